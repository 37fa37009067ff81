// The store before the fix, as the seed describes it: checkout reserves nothing (it only looks at
// the stock to show "in stock"); after payment the handler reads the stock, computes the new value
// in JavaScript and writes it back, with no lock and no condition. Real connections, real
// interleaving: this is the lost-update race that oversold the 12.12 best sellers.
import { setImmediate as yieldToOthers } from 'node:timers/promises';
import BetterSqlite3 from 'better-sqlite3';
import pg from 'pg';
import { assert } from '../core/errors.ts';
import type { ScriptLine, SkuPlan } from './script.ts';
import type { CheckoutAnswer, PaymentAnswer, StockCounters, Strategy, StrategyEnd } from './strategy.ts';

/** The few statements the legacy store runs; one implementation per database. */
interface LegacyDatabase {
  readonly location: string;
  createTables(): Promise<void>;
  insertProduct(sku: string, stock: number): Promise<void>;
  readStock(sku: string): Promise<number | null>;
  insertOrder(id: string, customer_id: string, lines: readonly ScriptLine[]): Promise<void>;
  setOrderStatus(id: string, status: string): Promise<void>;
  orderLines(id: string): Promise<ScriptLine[]>;
  /** Runs `read, compute, write` the way the legacy handler did: two statements, no lock. */
  readModifyWrite(sku: string, compute: (stock: number) => number): Promise<number>;
  close(): Promise<void>;
}

const TABLES = [
  'CREATE TABLE legacy_products (sku TEXT PRIMARY KEY, stock INTEGER NOT NULL)',
  'CREATE TABLE legacy_orders (id TEXT PRIMARY KEY, customer_id TEXT NOT NULL, status TEXT NOT NULL)',
  'CREATE TABLE legacy_order_lines (order_id TEXT NOT NULL, sku TEXT NOT NULL, quantity INTEGER NOT NULL)',
];

/** Connections in the legacy store's pool (SQLite and PostgreSQL alike). */
const LEGACY_POOL_SIZE = 8;

/**
 * SQLite: several connections to one WAL file, every statement in autocommit (as the legacy ORM
 * ran them). A deferred transaction around read and write would not do: SQLite refuses the write of
 * a transaction whose snapshot went stale (SQLITE_BUSY_SNAPSHOT), which is protection the legacy
 * store on its networked database did not have. better-sqlite3 answers synchronously, so between
 * the read and the write the handler yields to the event loop: the round trip an application server
 * makes to its database, during which the other requests run.
 */
export function openLegacySqlite(path: string): LegacyDatabase {
  const connections = Array.from({ length: LEGACY_POOL_SIZE }, () => {
    const connection = new BetterSqlite3(path);
    connection.pragma('journal_mode = WAL');
    connection.pragma('busy_timeout = 5000');
    return connection;
  });
  let next = 0;
  const connection = () => {
    next = (next + 1) % connections.length;
    const chosen = connections[next];
    assert(chosen !== undefined, 'next stays below the pool size');
    return chosen;
  };
  return {
    location: `SQLite file ${path}`,
    async createTables() {
      for (const statement of TABLES) connection().exec(statement);
    },
    async insertProduct(sku, stock) {
      connection().prepare('INSERT INTO legacy_products (sku, stock) VALUES (?, ?)').run(sku, stock);
    },
    async readStock(sku) {
      const row = connection().prepare('SELECT stock FROM legacy_products WHERE sku = ?').get(sku) as
        | { stock: number }
        | undefined;
      return row?.stock ?? null;
    },
    async insertOrder(id, customer_id, lines) {
      const db = connection();
      db.prepare('INSERT INTO legacy_orders (id, customer_id, status) VALUES (?, ?, ?)').run(
        id,
        customer_id,
        'placed',
      );
      const insert = db.prepare('INSERT INTO legacy_order_lines (order_id, sku, quantity) VALUES (?, ?, ?)');
      for (const line of lines) insert.run(id, line.sku, line.quantity);
    },
    async setOrderStatus(id, status) {
      connection().prepare('UPDATE legacy_orders SET status = ? WHERE id = ?').run(status, id);
    },
    async orderLines(id) {
      return connection()
        .prepare('SELECT sku, quantity FROM legacy_order_lines WHERE order_id = ? ORDER BY rowid')
        .all(id) as ScriptLine[];
    },
    async readModifyWrite(sku, compute) {
      const read = connection().prepare('SELECT stock FROM legacy_products WHERE sku = ?').get(sku) as {
        stock: number;
      };
      await yieldToOthers();
      const written = compute(read.stock);
      connection().prepare('UPDATE legacy_products SET stock = ? WHERE sku = ?').run(written, sku);
      return written;
    },
    async close() {
      for (const each of connections) each.close();
    },
  };
}

/** PostgreSQL: a pool under READ COMMITTED (the default); read and write in one transaction. */
export function openLegacyPostgres(url: string, schema: string, display: string): LegacyDatabase {
  const pool = new pg.Pool({
    connectionString: url,
    max: LEGACY_POOL_SIZE,
    connectionTimeoutMillis: 10_000,
    options: `-c search_path=${schema}`,
  });
  const query = async <T>(text: string, values: unknown[] = []) =>
    (await pool.query(text, values)).rows as T[];
  return {
    location: `PostgreSQL ${display}, schema ${schema}`,
    async createTables() {
      for (const statement of TABLES) await query(statement);
    },
    async insertProduct(sku, stock) {
      await query('INSERT INTO legacy_products (sku, stock) VALUES ($1, $2)', [sku, stock]);
    },
    async readStock(sku) {
      const rows = await query<{ stock: number }>('SELECT stock FROM legacy_products WHERE sku = $1', [sku]);
      return rows[0]?.stock ?? null;
    },
    async insertOrder(id, customer_id, lines) {
      await query('INSERT INTO legacy_orders (id, customer_id, status) VALUES ($1, $2, $3)', [
        id,
        customer_id,
        'placed',
      ]);
      for (const line of lines)
        await query('INSERT INTO legacy_order_lines (order_id, sku, quantity) VALUES ($1, $2, $3)', [
          id,
          line.sku,
          line.quantity,
        ]);
    },
    async setOrderStatus(id, status) {
      await query('UPDATE legacy_orders SET status = $1 WHERE id = $2', [status, id]);
    },
    async orderLines(id) {
      return query<ScriptLine>('SELECT sku, quantity FROM legacy_order_lines WHERE order_id = $1', [id]);
    },
    async readModifyWrite(sku, compute) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN ISOLATION LEVEL READ COMMITTED');
        const read = await client.query<{ stock: number }>(
          'SELECT stock FROM legacy_products WHERE sku = $1',
          [sku],
        );
        const [row] = read.rows;
        assert(row !== undefined, `the legacy shop sells only SKUs it stocked (${sku})`);
        const written = compute(row.stock);
        await client.query('UPDATE legacy_products SET stock = $1 WHERE sku = $2', [written, sku]);
        await client.query('COMMIT');
        return written;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
    async close() {
      await pool.end();
    },
  };
}

export class LegacyStrategy implements Strategy {
  readonly name = 'legacy' as const;
  private order_count = 0;
  private readonly min_written = new Map<string, number>();

  constructor(private readonly db: LegacyDatabase) {}

  get location(): string {
    return this.db.location;
  }

  async setup(skus: readonly SkuPlan[]): Promise<void> {
    await this.db.createTables();
    for (const plan of skus) {
      await this.db.insertProduct(plan.sku, plan.stock);
      this.min_written.set(plan.sku, plan.stock);
    }
  }

  /** The legacy store has no deadlines and nothing to expire. */
  async advanceTo(): Promise<void> {}

  async checkout(customer_id: string, lines: readonly ScriptLine[]): Promise<CheckoutAnswer> {
    // The product page's "in stock?" look: nothing is reserved, so it only refuses once the counter
    // already says zero (or less).
    const short_skus: string[] = [];
    for (const line of lines) {
      const stock = await this.db.readStock(line.sku);
      if (stock === null || stock < line.quantity) short_skus.push(line.sku);
    }
    if (short_skus.length > 0) return { ok: false, short_skus };
    this.order_count += 1;
    const order_id = `legacy-${String(this.order_count).padStart(7, '0')}`;
    await this.db.insertOrder(order_id, customer_id, lines);
    return { ok: true, order_id };
  }

  async pay(order_id: string): Promise<PaymentAnswer> {
    // The gateway has taken the money and the customer sees "paid"; only then is stock taken, by a
    // read-modify-write per line. The check comes too late to refuse anyone: the order is paid
    // either way, and a short one is simply written below zero, to be sorted out at fulfilment.
    await this.db.setOrderStatus(order_id, 'paid');
    for (const line of await this.db.orderLines(order_id)) {
      const written = await this.db.readModifyWrite(line.sku, (stock) => stock - line.quantity);
      if (written < (this.min_written.get(line.sku) ?? written)) this.min_written.set(line.sku, written);
    }
    return { ok: true, late: false };
  }

  async cancel(order_id: string): Promise<void> {
    // Nothing was reserved, so nothing is given back.
    await this.db.setOrderStatus(order_id, 'cancelled');
  }

  /** Nothing is held, so there is no deadline to move. */
  async extend(): Promise<boolean> {
    return false;
  }

  async counters(skus: readonly string[]): Promise<Record<string, StockCounters>> {
    const counters: Record<string, StockCounters> = {};
    for (const sku of skus) counters[sku] = { available: (await this.db.readStock(sku)) ?? 0, on_hold: 0 };
    return counters;
  }

  async finish(skus: readonly string[]): Promise<StrategyEnd> {
    const min_available: Record<string, number> = {};
    for (const sku of skus) min_available[sku] = this.min_written.get(sku) ?? 0;
    return { counters: await this.counters(skus), min_available, expired_holds: 0, audit_problems: null };
  }

  close(): Promise<void> {
    return this.db.close();
  }
}
