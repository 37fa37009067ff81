import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStore } from '../../src/store/open-store.ts';
import { runStockhold } from '../support/cli.ts';
import { expectConservation } from '../support/invariants.ts';
import { createDatabaseOn, createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type EmbeddedServer, startEmbeddedPostgres } from '../support/postgres-server.ts';
import { rawDatabase } from '../support/raw-database.ts';

function stockhold(args: string[], env: Record<string, string> = {}) {
  const clean = { ...process.env };
  for (const key of ['DATABASE_URL', 'PGUSER', 'PGPASSWORD', 'STOCKHOLD_CONFIG']) delete clean[key];
  return runStockhold(args, { ...clean, LOG_LEVEL: 'silent', ...env });
}

/** A one-line message on stderr, exit code 2, and no stack trace. */
function expectOneLineFailure(result: { code: number; stderr: string }, ...parts: string[]) {
  expect(result.code).toBe(2);
  const lines = result.stderr.trim().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^stockhold: cannot open the database \(PostgreSQL at /);
  for (const part of parts) expect(lines[0]).toContain(part);
  expect(result.stderr).not.toMatch(/\n\s+at /);
}

describe('an embedded PostgreSQL, the fallback where no server answers', () => {
  let server: EmbeddedServer;
  let database: TestDatabase;
  // A role with a password full of URL-special characters, as an operator's secret store makes them.
  const user = 'stock_user';
  const password = 'p@ss:w/rd %#?';

  beforeAll(async () => {
    server = await startEmbeddedPostgres();
    database = await createDatabaseOn(server.url, 'stockhold_embedded');
    const admin = new pg.Client({ connectionString: server.url });
    await admin.connect();
    await admin.query(`create role ${user} login password '${password}'`);
    await admin.query(`alter database "${new URL(database.url).pathname.slice(1)}" owner to ${user}`);
    await admin.end();
  });
  afterAll(async () => {
    await database?.drop();
    await server?.stop();
  });

  it('runs the store on it, with user and password from PGUSER/PGPASSWORD (password authentication)', async () => {
    const bare = new URL(database.url);
    bare.username = '';
    bare.password = '';
    const config = loadConfig(
      { DATABASE_URL: bare.toString(), PGUSER: user, PGPASSWORD: password, PG_POOL_SIZE: '2' },
      undefined,
    );
    const store = await openStore(config);
    try {
      await store.migrate();
      const now_ms = Date.now();
      await store.execute(
        [{ command: { kind: 'create_sku', sku: 'tee', name: 'tee', available: 3, max_per_customer: null } }],
        now_ms,
      );
      const [result] = await store.execute(
        [
          {
            command: {
              kind: 'checkout',
              order_id: 'o1',
              customer_id: 'c1',
              lines: [{ sku: 'tee', quantity: 2 }],
              hold_seconds: 60,
            },
          },
        ],
        now_ms,
      );
      expect(result!.outcome.ok).toBe(true);
      expect(await store.getSku('tee')).toMatchObject({ available: 1, on_hold: 2 });
      const { rows } = await sql<{ user: string }>`select current_user as user`.execute(rawDatabase(store));
      expect(rows[0]!.user).toBe(user);
      await expectConservation(store);
    } finally {
      await store.close();
    }
    // The same through the command line, credentials from the environment only.
    const migrated = await stockhold(['migrate'], {
      DATABASE_URL: bare.toString(),
      PGUSER: user,
      PGPASSWORD: password,
    });
    expect(migrated).toMatchObject({ code: 0, stdout: 'stockhold: the postgres database is migrated\n' });
  });

  it('stops with one line naming the failed password authentication, the password redacted', async () => {
    const wrong = new URL(database.url);
    wrong.username = user;
    wrong.password = 'not-the-password';
    const result = await stockhold(['serve', '--port', '0'], { DATABASE_URL: wrong.toString() });
    expectOneLineFailure(result, `password authentication failed for user "${user}"`, ':***@');
    expect(result.stderr).not.toContain('not-the-password');
  });
});

describe('start-up against a database that cannot be used', () => {
  let database: TestDatabase;
  // The command-line runs start together (each is a whole node process); the tests await their own.
  let refused: ReturnType<typeof stockhold>;
  let unknown_user: ReturnType<typeof stockhold>;
  let refused_url: URL;
  beforeAll(async () => {
    database = await createTestDatabase('stockhold_connection');
    refused_url = new URL(database.url);
    refused_url.port = '1'; // privileged and unused: the connection is refused at once
    refused = stockhold(['serve', '--port', '0'], { DATABASE_URL: refused_url.toString() });
    const unknown = new URL(database.url);
    unknown.username = 'no_such_user';
    unknown.password = '';
    unknown_user = stockhold(['migrate'], { DATABASE_URL: unknown.toString() });
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('stops with one line naming the refused connection when nothing listens on the port', async () => {
    expectOneLineFailure(await refused, `${refused_url.hostname}:1`, 'ECONNREFUSED');
  });

  it('stops with one line naming a user the server does not know', async () => {
    expectOneLineFailure(await unknown_user, 'no_such_user');
  });

  it('applies PG_POOL_SIZE and PG_STATEMENT_TIMEOUT_MS to every connection', async () => {
    const config = loadConfig(
      { DATABASE_URL: database.url, PG_POOL_SIZE: '3', PG_STATEMENT_TIMEOUT_MS: '250' },
      undefined,
    );
    const store = await openStore(config);
    try {
      const { rows } = await sql<{ statement_timeout: string }>`show statement_timeout`.execute(
        rawDatabase(store),
      );
      expect(rows[0]!.statement_timeout).toBe('250ms');
      await expect(sql`select pg_sleep(2)`.execute(rawDatabase(store))).rejects.toMatchObject({
        code: '57014',
      });
      // Eight queries at once hold at most three connections: the pool queues the rest.
      const application = `pool-test-${Date.now()}`;
      const queries = Array.from({ length: 8 }, () =>
        sql`select set_config('application_name', ${application}, false), pg_sleep(0.1)`.execute(
          rawDatabase(store),
        ),
      );
      await Promise.all(queries);
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      const sessions = await admin.query(
        'select count(*)::int as n from pg_stat_activity where datname = current_database() and application_name = $1',
        [application],
      );
      await admin.end();
      expect(sessions.rows[0].n).toBeGreaterThanOrEqual(1);
      expect(sessions.rows[0].n).toBeLessThanOrEqual(3);
    } finally {
      await store.close();
    }
  });

  it('turns JIT off on every connection (it compiled for 245 ms to save a 5 ms read)', async () => {
    const store = await openStore(loadConfig({ DATABASE_URL: database.url, PG_POOL_SIZE: '3' }, undefined));
    try {
      // Three at once take three connections, each asked right after it opened.
      const settings = await Promise.all(
        Array.from({ length: 3 }, () =>
          sql<{
            jit: string;
            pid: number;
          }>`select current_setting('jit') as jit, pg_backend_pid() as pid, pg_sleep(0.1)`.execute(
            rawDatabase(store),
          ),
        ),
      );
      expect(new Set(settings.map(({ rows }) => rows[0]!.pid)).size).toBe(3);
      expect(settings.map(({ rows }) => rows[0]!.jit)).toEqual(['off', 'off', 'off']);
    } finally {
      await store.close();
    }
  });

  it('survives the database ending its idle connections, and the next query reconnects', async () => {
    const store = await openStore(loadConfig({ DATABASE_URL: database.url, PG_POOL_SIZE: '2' }, undefined));
    try {
      await sql`select 1`.execute(rawDatabase(store));
      const admin = new pg.Client({ connectionString: database.url });
      await admin.connect();
      // What a database restart or failover does to the pool's idle connections.
      await admin.query(
        'select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()',
      );
      await admin.end();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const { rows } = await sql<{ one: number }>`select 1 as one`.execute(rawDatabase(store));
      expect(rows[0]!.one).toBe(1);
    } finally {
      await store.close();
    }
  });
});
