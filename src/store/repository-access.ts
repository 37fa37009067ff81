// What a repository of src/store (API keys, webhooks, the gauges' reads) is built on: the store's
// own connections and its own transactions, never a handle of its own.
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';

export interface RepositoryAccess {
  /** The writer's connection: reads that must see the latest commit, single-statement writes. */
  readonly db: Kysely<Database>;
  /** Where reads that may lag a commit go (SQLite's second connection). */
  readonly read_db: Kysely<Database>;
  /** Whether rows must be locked explicitly (FOR UPDATE): the adapter's capability. */
  readonly locks_rows: boolean;
  /**
   * One write transaction the store's way: the adapter's (BEGIN IMMEDIATE on SQLite), retried on a
   * conflict and counted in the store's outages. `work` may run more than once.
   */
  transaction<T>(work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
}
