// SQLite: one file in WAL mode, one writer connection (writes queue on Kysely's connection mutex),
// a second read-only connection, so reads never wait behind a write transaction, and a thread that
// copies the log back into the file (checkpoint-thread.mjs), so commits do not.
import { once } from 'node:events';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { statfs } from 'node:fs/promises';
import { dirname } from 'node:path';
import { Worker } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';
import { Kysely, type SqliteDatabase, SqliteDialect, sql } from 'kysely';
import type { DialectAdapter, StoreParts } from '../dialect.ts';
import type { Database } from '../schema.ts';
import { sqliteBulkWriter } from './bulk-writes.ts';
import { type Prepare, sqlitePreparedReads } from './prepared-reads.ts';
import { SqliteSkuCache } from './sku-cache.ts';
import { sweepExpiredSqlite } from './sqlite-sweep.ts';

export const SQLITE_MEMORY = ':memory:';

function openConnection(path: string, readonly: boolean): BetterSqlite3.Database {
  const connection = new BetterSqlite3(path, { readonly, fileMustExist: readonly });
  // WAL lets the reader run beside the writer; synchronous=FULL fsyncs the WAL at every commit, so
  // a transaction answered as committed survives a crash of the process or a power cut.
  if (!readonly) connection.pragma('journal_mode = WAL');
  connection.pragma('synchronous = FULL');
  connection.pragma('busy_timeout = 5000');
  return connection;
}

/** Prepared statements kept per connection, by text; the least recently used goes first. */
const STATEMENT_CACHE_MAX = 256;

/** The connection's prepared statements, reused by text; the least recently used goes first. */
function statementCache(connection: BetterSqlite3.Database): Prepare {
  const statements = new Map<string, BetterSqlite3.Statement>();
  return (text) => {
    let statement = statements.get(text);
    if (statement) {
      statements.delete(text);
    } else {
      statement = connection.prepare(text);
      // The least recently used statement goes first: a Map keeps insertion order, and a hit above
      // moves its statement to the end.
      const oldest = statements.keys().next();
      if (statements.size >= STATEMENT_CACHE_MAX && !oldest.done) statements.delete(oldest.value);
    }
    statements.set(text, statement);
    return statement;
  };
}

/**
 * The connection as Kysely's dialect sees it, with prepared statements reused: Kysely prepares every
 * query it runs, and preparing cost as much as running the small statements of the write path.
 */
function withStatementCache(connection: BetterSqlite3.Database): SqliteDatabase {
  return { close: () => connection.close(), prepare: statementCache(connection) };
}

function isBusy(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && code.startsWith('SQLITE_BUSY');
}

/** Owner read and write only: the file holds webhook secrets and API key hashes. */
const DATABASE_FILE_MODE = 0o600;

/**
 * Creates the database file, owner-only, before SQLite first writes it; SQLite gives the -wal and
 * -shm files the database file's mode. A file that exists keeps the mode its operator gave it.
 */
function createPrivateFile(path: string): void {
  try {
    closeSync(openSync(path, 'wx', DATABASE_FILE_MODE));
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'EEXIST') throw error;
  }
}

/**
 * Runs `work` in one write transaction on the writer. BEGIN IMMEDIATE takes the write lock up front:
 * no transaction can fail half-way on an upgrade.
 */
function beginImmediate<T>(
  writer_connection: BetterSqlite3.Database,
  db: Kysely<Database>,
  work: (trx: Kysely<Database>) => Promise<T>,
): Promise<T> {
  return db.connection().execute(async (connection) => {
    // A ROLLBACK that failed (below) left the transaction open: it ends before the next begins.
    if (writer_connection.inTransaction) await sql`rollback`.execute(connection);
    await sql`begin immediate`.execute(connection);
    try {
      const result = await work(connection);
      await sql`commit`.execute(connection);
      return result;
    } catch (error) {
      // After SQLITE_FULL or an I/O error SQLite may have rolled back by itself, and ROLLBACK
      // then fails ("no transaction is active"): the first error is the one that says why.
      if (writer_connection.inTransaction) await sql`rollback`.execute(connection).catch(() => {});
      throw error;
    }
  });
}

/** Opens the file (made owner-only when new) with its writer, reader and checkpoint thread. */
export async function connectSqlite(path: string): Promise<StoreParts> {
  if (path !== SQLITE_MEMORY) {
    mkdirSync(dirname(path), { recursive: true });
    createPrivateFile(path);
  }
  const writer_connection = openConnection(path, false);
  const checkpointer = path === SQLITE_MEMORY ? null : await startCheckpointer(path, writer_connection);
  const writer = new Kysely<Database>({
    dialect: new SqliteDialect({ database: withStatementCache(writer_connection) }),
  });
  // An in-memory database exists only on its one connection, so it reads there too.
  const reader =
    path === SQLITE_MEMORY
      ? writer
      : new Kysely<Database>({
          dialect: new SqliteDialect({ database: withStatementCache(openConnection(path, true)) }),
        });
  // The request path's reads by key, on a connection of their own (prepared-reads.ts). An in-memory
  // database has one connection, whose open transactions they would see: Kysely's reads serve it.
  const reads_connection = path === SQLITE_MEMORY ? null : openConnection(path, true);
  // data_version of the writer moves only when another connection commits: another process.
  const others_version = writer_connection.prepare('pragma data_version').pluck();
  const adapter: DialectAdapter = {
    name: 'sqlite',
    locks_rows: false,
    bulk_writer: sqliteBulkWriter,
    writeTransaction: (db, work) => beginImmediate(writer_connection, db, work),
    async probeWrites() {
      if (path !== SQLITE_MEMORY) {
        const { bavail, bsize } = await statfs(dirname(path));
        if (bavail * bsize < PROBE_FREE_BYTES_MIN) {
          throw Object.assign(new Error(`only ${bavail * bsize} bytes are free beside the database file`), {
            code: 'SQLITE_FULL',
          });
        }
      }
      // New pages taken and given back, in the writers' queue: refused while the file cannot grow
      // (SQLITE_FULL from max_page_count or the file system, or an I/O error).
      const rolled_back = new Error('probe rolled back');
      try {
        await this.writeTransaction(writer, async (trx) => {
          await sql`create table main.stockhold_write_probe (data blob)`.execute(trx);
          await sql`insert into main.stockhold_write_probe values (zeroblob(${PROBE_BYTES}))`.execute(trx);
          throw rolled_back;
        });
      } catch (error) {
        if (error !== rolled_back) throw error;
      }
    },
    sweepExpired: sweepExpiredSqlite,
    ...(reads_connection && { prepared_reads: sqlitePreparedReads(statementCache(reads_connection)) }),
    sku_cache: new SqliteSkuCache(() => others_version.get() as number),
    isRetryable: isBusy,
    // SQLite's only "busy" is the file lock, retried above; past the retries it is overload too.
    isOverloaded: () => false,
    async close() {
      await checkpointer?.stop();
      reads_connection?.close();
      if (reader !== writer) await reader.destroy();
      await writer.destroy();
    },
  };
  return { db: writer, read_db: reader, adapter };
}

/** Free space below which the disk counts as full for the readiness probe (a batch's log is ~1 MiB). */
const PROBE_FREE_BYTES_MIN = 1024 * 1024;
/** Bytes the readiness probe allocates (and rolls back) in the file. */
const PROBE_BYTES = 64 * 1024;

/**
 * Pages of log (4 KiB each) after which the writer checkpoints itself: only when the checkpoint
 * thread falls behind or is gone. SQLite's default of 1,000 made a checkpoint part of the commit.
 */
const WRITER_CHECKPOINT_PAGES = 20_000;
const SQLITE_DEFAULT_CHECKPOINT_PAGES = 1000;
const CHECKPOINT_INTERVAL_MS = 50;

/**
 * Starts the thread that checkpoints the log (checkpoint-thread.mjs). Measured on 250-checkout
 * batches over 10,000 SKUs here: 38 ms per batch with the writer checkpointing, 27 ms with the thread
 * (medians of five runs each, alternated).
 */
async function startCheckpointer(
  path: string,
  writer: BetterSqlite3.Database,
): Promise<{ stop(): Promise<void> }> {
  const worker = new Worker(new URL('./checkpoint-thread.mjs', import.meta.url), {
    workerData: { path, interval_ms: CHECKPOINT_INTERVAL_MS },
  });
  try {
    await once(worker, 'online');
  } catch (error) {
    writer.close();
    throw error;
  }
  writer.pragma(`wal_autocheckpoint = ${WRITER_CHECKPOINT_PAGES}`);
  // Should the thread die, the writer checkpoints as SQLite does by default; the server goes on.
  worker.on('error', () => writer.pragma(`wal_autocheckpoint = ${SQLITE_DEFAULT_CHECKPOINT_PAGES}`));
  // A process that exits without closing the store does not wait for it (SQLite recovers the log).
  worker.unref();
  return {
    async stop() {
      if (worker.threadId === -1) return;
      // Referenced again: waiting for it must keep the process alive until it has exited.
      worker.ref();
      const exited = once(worker, 'exit');
      worker.postMessage('stop');
      await exited;
    },
  };
}
