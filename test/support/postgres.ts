// A fresh PostgreSQL database per test file: STOCKHOLD_TEST_PG_URL when set, else the local server.
// (Issue 4 extends this with an embedded PostgreSQL where no server answers.)
import pg from 'pg';

export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const DEFAULT_URL = 'postgres://postgres@127.0.0.1:5432/test';

export async function createTestDatabase(prefix = 'stockhold_test'): Promise<TestDatabase> {
  const admin_url = process.env.STOCKHOLD_TEST_PG_URL ?? DEFAULT_URL;
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
