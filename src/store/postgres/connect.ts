// PostgreSQL: a pool of connections shared by any number of server processes. Row locks (FOR UPDATE,
// orders before SKUs, each in id order) serialise the transactions that touch the same rows.
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { DialectAdapter, StoreParts } from '../dialect.ts';
import type { Database } from '../schema.ts';
import { postgresBulkWriter } from './bulk-writes.ts';
import { pipelinedPool } from './pipelined-pool.ts';
import { postgresPreparedReads } from './prepared-reads.ts';

export interface PostgresOptions {
  url: string;
  pool_size: number;
  statement_timeout_ms: number;
}

const INT8_OID = 20;
const NUMERIC_OID = 1700;

/** bigint and numeric (sums) arrive as strings from pg; every value here is a safe integer. */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8_OID || oid === NUMERIC_OID) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

/** Errors after which PostgreSQL expects the transaction to be tried again. */
const RETRYABLE_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '23505', // unique_violation: two processes created the same sku or claimed the same key
  '55P03', // lock_not_available
]);

export function createPool(options: PostgresOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.pool_size,
    statement_timeout: options.statement_timeout_ms,
    connectionTimeoutMillis: 10_000,
    types,
    pipeline: true,
  });
  // An idle connection the server ends (restart, failover, pg_terminate_backend) is reported here;
  // the pool has already dropped it and the next query opens a new one. Without a listener the
  // 'error' event would be thrown and take the whole server process down.
  pool.on('error', () => {});
  // Every statement here is short. JIT compiles a plan whose estimated cost is high, which on
  // tables without statistics yet (a young database) is also a cheap one: it cost a limited
  // checkout's usage read 245 ms of compiling for 5 ms of work. Sent ahead of the first query; a
  // server before PostgreSQL 11 has no JIT and refuses the setting, which changes nothing.
  pool.on('connect', (client) => {
    // pg-pool listens for 'error' only while a client is idle: a connection that dies while checked
    // out (a backend terminated mid-transaction, a failover) would emit an unhandled 'error' and end
    // the process. The query in flight is failed with the cause anyway, and the pool drops the
    // client when it is released (it is no longer queryable), so this listener has nothing to do.
    client.on('error', () => {});
    client.query('set jit = off').catch(() => {});
  });
  return pool;
}

/** Opens the pool and checks that one connection opens. */
export async function connectPostgres(options: PostgresOptions): Promise<StoreParts> {
  const pool = createPool(options);
  // Fail at start, with the database's own reason, rather than on the first request.
  const client = await pool.connect().catch(async (error: unknown) => {
    await pool.end();
    throw error;
  });
  client.release();
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: pipelinedPool(pool) }) });
  const adapter: DialectAdapter = {
    name: 'postgres',
    locks_rows: true,
    bulk_writer: postgresBulkWriter,
    prepared_reads: postgresPreparedReads(pool),
    async writeTransaction(database, work) {
      let first_error: unknown;
      try {
        return await database.transaction().execute(async (trx) => {
          try {
            return await work(trx);
          } catch (error) {
            first_error = error;
            throw error;
          }
        });
      } catch (error) {
        // A ROLLBACK on a dead connection fails too ("not queryable"): the cause is the first error.
        throw first_error ?? error;
      }
    },
    isRetryable(error) {
      const code = (error as { code?: unknown } | null)?.code;
      return typeof code === 'string' && RETRYABLE_CODES.has(code);
    },
    isOverloaded(error) {
      const code = (error as { code?: unknown } | null)?.code;
      // 57014: canceled by statement_timeout (a lock wait too long on a hot row); pg-pool's own
      // connect timeout has no code, only this message. Neither left anything committed.
      return (
        code === '57014' || /timeout exceeded when trying to connect/.test(String((error as Error)?.message))
      );
    },
    poolStats() {
      return { total: pool.totalCount, idle: pool.idleCount, waiting: pool.waitingCount };
    },
    async close() {
      await db.destroy();
    },
  };
  return { db, read_db: db, adapter };
}
