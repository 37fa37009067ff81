// A fresh, migrated store of either dialect on a real database (a SQLite file or a PostgreSQL
// database of its own), and more store instances on the same database, as other processes would be.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { DialectName } from '../../src/store/migrations.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { testDialects } from './dialects.ts';
import { createTestDatabase } from './postgres.ts';
import { rawDatabase } from './raw-database.ts';

/** Both stores; STOCKHOLD_TEST_DIALECTS=sqlite narrows them for the fast run (test/support/dialects.ts). */
export const DIALECTS: readonly DialectName[] = testDialects();

export interface TestStore {
  store: KyselyStore;
  /** The database: a PostgreSQL URL, or `sqlite:<path>`. */
  url: string;
  /**
   * Another store instance on the same database, as another server process would have (closed by
   * dispose). SQLite has one writer process by design, so there it is the same instance: two
   * synchronous better-sqlite3 writers in one process would only wait out each other's busy timeout.
   */
  another(): Promise<KyselyStore>;
  /** Empties every table but the migration records, so a test starts from nothing without a new database. */
  reset(): Promise<void>;
  /** Closes every instance and deletes the database. */
  dispose(): Promise<void>;
}

export async function openTestStore(dialect: DialectName): Promise<TestStore> {
  const instances: KyselyStore[] = [];
  let open: () => Promise<KyselyStore>;
  let remove: () => Promise<void>;
  let url: string;
  if (dialect === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'stockhold-store-'));
    const path = join(directory, 'stockhold.db');
    url = `sqlite:${path}`;
    open = () => openSqliteStore(path);
    remove = async () => rmSync(directory, { recursive: true, force: true });
  } else {
    const database = await createTestDatabase();
    url = database.url;
    open = () => openPostgresStore({ url: database.url, pool_size: 10, statement_timeout_ms: 30_000 });
    remove = () => database.drop();
  }
  const store = await open();
  instances.push(store);
  await store.migrate();
  const another = async () => {
    if (dialect === 'sqlite') return store;
    const instance = await open();
    instances.push(instance);
    return instance;
  };
  return {
    store,
    url,
    another,
    async reset() {
      const db = rawDatabase(store);
      if (dialect === 'postgres') {
        const { rows } = await sql<{ name: string }>`
          select table_name as name from information_schema.tables
          where table_schema = current_schema() and table_type = 'BASE TABLE'
            and table_name not like 'kysely_migration%'`.execute(db);
        if (rows.length === 0) return;
        const names = rows.map((row) => `"${row.name}"`).join(', ');
        await sql.raw(`truncate ${names} restart identity cascade`).execute(db);
      } else {
        const { rows } = await sql<{ name: string }>`
          select name from sqlite_master
          where type = 'table' and name not like 'kysely_migration%' and name not like 'sqlite_%'`.execute(
          db,
        );
        for (const row of rows) await sql.raw(`delete from "${row.name}"`).execute(db);
      }
    },
    async dispose() {
      for (const instance of instances) await instance.close();
      await remove();
    },
  };
}
