// Migration 0001_initial: the stock, orders, holds, ledger, idempotency keys and outbox of the first
// release.
import { type Kysely, type Migration, sql } from 'kysely';
import type { MigrationDialect } from './dialect.ts';

export function initialMigration(dialect: MigrationDialect): Migration {
  return {
    async up(db: Kysely<unknown>) {
      await createSkus(db);
      await createOrders(db);
      await createOrderLines(db);
      await createHolds(db);
      await createLedger(db);
      await createIdempotencyKeys(db);
      await createOutbox(db, dialect);
    },
  };
}

/** The stock: one row per SKU, its three buckets never negative. */
async function createSkus(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('skus')
    .addColumn('sku', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull())
    .addColumn('available', 'bigint', (c) => c.notNull().check(sql`available >= 0`))
    .addColumn('on_hold', 'bigint', (c) => c.notNull().check(sql`on_hold >= 0`))
    .addColumn('sold', 'bigint', (c) => c.notNull().check(sql`sold >= 0`))
    .addColumn('max_per_customer', 'bigint')
    .addColumn('version', 'bigint', (c) => c.notNull())
    .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
    .addColumn('updated_at_ms', 'bigint', (c) => c.notNull())
    .execute();
}

/** Orders, with the indexes of the sweeper, a customer's orders and a status's orders. */
async function createOrders(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('customer_id', 'text', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull())
    .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
    .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
    .addColumn('paid_at_ms', 'bigint')
    .addColumn('payment_id', 'text')
    .addColumn('late', 'integer', (c) => c.notNull().defaultTo(0))
    .addColumn('closed_at_ms', 'bigint')
    .execute();
  // The sweeper's work list: only pending orders, oldest deadline first.
  await db.schema
    .createIndex('orders_pending_by_deadline')
    .on('orders')
    .columns(['expires_at_ms'])
    .where(sql.ref('status'), '=', 'pending_payment')
    .execute();
  await db.schema.createIndex('orders_by_customer').on('orders').columns(['customer_id', 'id']).execute();
  await db.schema.createIndex('orders_by_status').on('orders').columns(['status', 'id']).execute();
}

/** The lines of each order. */
async function createOrderLines(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('order_lines')
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('line_no', 'integer', (c) => c.notNull())
    .addColumn('sku', 'text', (c) => c.notNull())
    .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity > 0`))
    .addPrimaryKeyConstraint('order_lines_pk', ['order_id', 'line_no'])
    .execute();
  await db.schema.createIndex('order_lines_by_sku').on('order_lines').columns(['sku', 'order_id']).execute();
}

/** What each pending order holds, per SKU, until its deadline. */
async function createHolds(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('holds')
    .addColumn('order_id', 'text', (c) => c.notNull())
    .addColumn('sku', 'text', (c) => c.notNull())
    .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity > 0`))
    .addColumn('expires_at_ms', 'bigint', (c) => c.notNull())
    .addPrimaryKeyConstraint('holds_pk', ['order_id', 'sku'])
    .execute();
  // Lazy reclaim: the expired holds of one SKU, oldest first.
  await db.schema
    .createIndex('holds_by_sku_deadline')
    .on('holds')
    .columns(['sku', 'expires_at_ms'])
    .execute();
}

/** Every stock movement, per SKU in sequence. */
async function createLedger(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('ledger')
    .addColumn('sku', 'text', (c) => c.notNull())
    .addColumn('seq', 'bigint', (c) => c.notNull())
    .addColumn('at_ms', 'bigint', (c) => c.notNull())
    .addColumn('kind', 'text', (c) => c.notNull())
    .addColumn('order_id', 'text')
    .addColumn('delta_available', 'bigint', (c) => c.notNull())
    .addColumn('delta_on_hold', 'bigint', (c) => c.notNull())
    .addColumn('delta_sold', 'bigint', (c) => c.notNull())
    .addColumn('available_after', 'bigint', (c) => c.notNull())
    .addColumn('on_hold_after', 'bigint', (c) => c.notNull())
    .addColumn('sold_after', 'bigint', (c) => c.notNull())
    .addColumn('reason', 'text')
    .addPrimaryKeyConstraint('ledger_pk', ['sku', 'seq'])
    .execute();
}

/** The answers kept for Idempotency-Key replays. */
async function createIdempotencyKeys(db: Kysely<unknown>): Promise<void> {
  await db.schema
    .createTable('idempotency_keys')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('fingerprint', 'text', (c) => c.notNull())
    .addColumn('outcome', 'text', (c) => c.notNull())
    .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
    .execute();
  await db.schema
    .createIndex('idempotency_keys_by_age')
    .on('idempotency_keys')
    .columns(['created_at_ms'])
    .execute();
}

/** The events, by id, that the event stream and the webhooks read. */
async function createOutbox(db: Kysely<unknown>, dialect: MigrationDialect): Promise<void> {
  await db.schema
    .createTable('outbox')
    .addColumn('id', dialect.generated_key.type, (c) => dialect.generated_key.define(c.primaryKey()))
    .addColumn('type', 'text', (c) => c.notNull())
    .addColumn('subject_id', 'text', (c) => c.notNull())
    .addColumn('payload', 'text', (c) => c.notNull())
    .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
    .execute();
}
