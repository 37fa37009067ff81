// What differs between databases, as capabilities: each folder (src/store/sqlite, src/store/postgres)
// supplies one Dialect, listed in src/store/dialects.ts, and shared code asks these, never a name.
import type { CompiledQuery, Kysely } from 'kysely';
import type { SkuState } from '../core/types.ts';
import type { BulkWriter } from './bulk-writes.ts';
import type { DialectName } from './dialects.ts';
import type { MigrationDialect } from './migrations/dialect.ts';
import type { DatabaseUrlConfig, StoreConfig } from './open-store.ts';
import type { Database, OrdersTable, SkusTable } from './schema.ts';

/** What differs between databases; everything else is shared. */
export interface DialectAdapter {
  readonly name: DialectName;
  /** Whether rows must be locked explicitly (PostgreSQL); SQLite's write transaction is exclusive. */
  readonly locks_rows: boolean;
  /** How the writes of one transaction go out (sqlite/bulk-writes.ts, postgres/bulk-writes.ts). */
  readonly bulk_writer: BulkWriter;
  /** Runs `work` in one write transaction and commits it durably before returning. */
  writeTransaction<T>(db: Kysely<Database>, work: (trx: Kysely<Database>) => Promise<T>): Promise<T>;
  /** Errors after which the whole transaction may simply run again (deadlock, busy, a lost race). */
  isRetryable(error: unknown): boolean;
  /**
   * Errors that mean "too busy right now" and left nothing committed (a statement or pool timeout):
   * answered 503 `overloaded` with Retry-After rather than as an internal error.
   */
  isOverloaded(error: unknown): boolean;
  /**
   * The sweeper's batch as set-based statements inside the database, where the dialect has them
   * (SQLite): in the caller's write transaction, expires up to `limit` due orders, oldest deadline
   * first, writing exactly what Workspace.expire writes; returns how many. Without it the store
   * loads the due orders and expires them with the Workspace.
   */
  sweepExpired?(trx: Kysely<Database>, now_ms: number, limit: number): Promise<SetBasedSweep>;
  /**
   * The request path's reads of one row by its key, as statements prepared once and reused (no query
   * building per request). Without them the store builds these reads with Kysely.
   */
  readonly prepared_reads?: PreparedReads;
  /**
   * SKU states kept in memory, where this process is the only writer (SQLite): the store keeps them
   * current from what it commits. None where another process may write (PostgreSQL).
   */
  readonly sku_cache?: SkuCache;
  /**
   * Throws when a write that needs new space would fail now (a full disk), where reads alone cannot
   * tell: readiness asks it during an outage, to see the end of it without a request's write.
   */
  probeWrites?(): Promise<void>;
  /** Connections of the pool, where the dialect has one (metrics). */
  poolStats?(): PoolStats;
  close(): Promise<void>;
}

/** What a set-based sweep did: the orders it expired and the SKUs whose rows it changed. */
export interface SetBasedSweep {
  expired_orders: number;
  skus_changed: readonly string[];
}

/** A row of an order's lines, in line order. */
export interface OrderLineRow {
  sku: string;
  quantity: number;
}

/** Whole rows by key (`select *`, so the row mappers see every column), each one prepared statement. */
export interface PreparedReads {
  sku(sku: string): Promise<SkusTable | undefined>;
  /** The order and its lines, as of one moment. */
  order(id: string): Promise<{ row: OrdersTable; lines: OrderLineRow[] } | undefined>;
  /** The fingerprint stored under an idempotency key. */
  storedFingerprint(key: string): Promise<string | undefined>;
}

/**
 * SKU states in memory, each as the last commit left it. A read that missed fills it with what it
 * read, unless a write was applied meanwhile (`generation`): that read may be older than the write.
 */
export interface SkuCache {
  get(sku: string): SkuState | undefined;
  /** Changes with every write applied: taken before a read, handed back to `fill`. */
  generation(): number;
  fill(sku: SkuState, generation: number): void;
  /** After a commit: the states it wrote replace the ones kept (SKUs not kept stay out); the SKUs it deleted leave. */
  committed(skus: readonly SkuState[], deleted?: readonly string[]): void;
  /** After a commit that wrote these SKUs without their states at hand (a set-based sweep). */
  forget(skus: readonly string[]): void;
  /** After a write the cache cannot follow (migrations). */
  clear(): void;
}

export interface PoolStats {
  total: number;
  idle: number;
  waiting: number;
}

/** The connections a database opens and the adapter over them: a KyselyStore is made of these. */
export interface StoreParts {
  /** The writer. */
  db: Kysely<Database>;
  /** Where reads go (on SQLite a second connection, so reads never wait behind a write). */
  read_db: Kysely<Database>;
  adapter: DialectAdapter;
}

/** A row of the usage statement: units of one SKU one customer bought or holds in time. */
export interface UsageRow {
  customer_id: string;
  sku: string;
  quantity: number;
}

/**
 * The statement that reads, for every pair of some customers and SKUs, the units that count toward
 * max_per_customer at `now_ms` (see customerUnits in src/store/customer-units.ts), in the shape this
 * database's planner serves from the customers' orders.
 */
export type UsageQuery = (
  db: Kysely<Database>,
  customers: readonly string[],
  skus: readonly string[],
  now_ms: number,
) => CompiledQuery<UsageRow>;

/** One database: its folder's answer to each question shared code has. */
export interface Dialect<Location> {
  /** Its label (logs, metrics), the one its adapter carries. */
  readonly name: string;
  /** Where DATABASE_URL points, when it names this database; null when it names another. */
  locate(config: DatabaseUrlConfig): Location | null;
  /** Opens the connections (fails at once, with the database's own reason, when it cannot). */
  connect(location: Location, config: StoreConfig): Promise<StoreParts>;
  /**
   * How a message names the location: `as_given` as DATABASE_URL says it, `resolved` with a file's
   * absolute path; never with a password.
   */
  describe(location: Location, form: 'as_given' | 'resolved'): string;
  /**
   * Makes sure the database exists before a command opens it: opening makes a new empty one, which a
   * typo in a URL must not get. With `create`, makes it when it is the one thing missing. Throws
   * DatabaseNotReady when it cannot be used as it is.
   */
  ensureExists(location: Location, create: boolean): Promise<'existed' | 'created'>;
  readonly usage_query: UsageQuery;
  readonly bulk_writer: BulkWriter;
  readonly migration: MigrationDialect;
}

/** Why the database a location names cannot be used as it is; the CLI words it. */
export class DatabaseNotReady extends Error {
  constructor(
    /** `missing`: it does not exist (and was not to be created); `unreachable`: it cannot be opened; `create_failed`. */
    readonly reason: 'missing' | 'unreachable' | 'create_failed',
    /** The database's own error, where it gave one. */
    override readonly cause?: unknown,
  ) {
    super(`the database is ${reason}`);
    this.name = 'DatabaseNotReady';
  }
}
