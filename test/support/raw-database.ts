// The store's raw Kysely handles, for tests and benchmarks only: seeding rows, breaking things on
// purpose, reading what a write left. Code of src/ never has them (the store is the only door to the
// database; test/layering.test.ts holds it so): reaching them takes this explicit cast.
import type { Kysely } from 'kysely';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { Database } from '../../src/store/schema.ts';

/** The store's private field, as it is at run time. */
interface Handles {
  db: Kysely<Database>;
}

/** The writer's connection (on SQLite the one that holds per-connection pragmas). */
export function rawDatabase(store: KyselyStore): Kysely<Database> {
  return (store as unknown as Handles).db;
}
