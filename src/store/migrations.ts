// Schema migrations, one list for every dialect; Kysely's Migrator records and locks them, so
// several processes starting at once migrate exactly once.
import { type Kysely, type Migration, type MigrationProvider, Migrator, sql } from 'kysely';
import { apiKeyLastUsedMigration, apiKeysMigration } from '../security/migration.ts';

export type DialectName = 'sqlite' | 'postgres';

function migrations(dialect: DialectName): Record<string, Migration> {
  // SQLite's INTEGER PRIMARY KEY is its rowid; PostgreSQL needs an identity column for the outbox.
  const outboxId = dialect === 'sqlite' ? 'integer' : 'bigint';
  return {
    '0001_initial': {
      async up(db: Kysely<unknown>) {
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
        await db.schema
          .createIndex('orders_by_customer')
          .on('orders')
          .columns(['customer_id', 'id'])
          .execute();
        await db.schema.createIndex('orders_by_status').on('orders').columns(['status', 'id']).execute();

        await db.schema
          .createTable('order_lines')
          .addColumn('order_id', 'text', (c) => c.notNull())
          .addColumn('line_no', 'integer', (c) => c.notNull())
          .addColumn('sku', 'text', (c) => c.notNull())
          .addColumn('quantity', 'bigint', (c) => c.notNull().check(sql`quantity > 0`))
          .addPrimaryKeyConstraint('order_lines_pk', ['order_id', 'line_no'])
          .execute();
        await db.schema
          .createIndex('order_lines_by_sku')
          .on('order_lines')
          .columns(['sku', 'order_id'])
          .execute();

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

        await db.schema
          .createTable('outbox')
          .addColumn('id', outboxId, (c) =>
            dialect === 'sqlite'
              ? c.primaryKey().autoIncrement()
              : c.primaryKey().generatedAlwaysAsIdentity(),
          )
          .addColumn('type', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'text', (c) => c.notNull())
          .addColumn('payload', 'text', (c) => c.notNull())
          .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0002_webhooks': {
      async up(db: Kysely<unknown>) {
        await db.schema
          .createTable('webhook_endpoints')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('url', 'text', (c) => c.notNull())
          .addColumn('secret', 'text', (c) => c.notNull())
          // A JSON array of event types, or null for every type.
          .addColumn('event_types', 'text')
          .addColumn('active', 'integer', (c) => c.notNull().defaultTo(1))
          .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
          .addColumn('deleted_at_ms', 'bigint')
          .execute();

        // One delivery per event per endpoint; `subject_id` (the order) orders them per endpoint.
        await db.schema
          .createTable('webhook_deliveries')
          .addColumn('id', 'text', (c) => c.primaryKey())
          .addColumn('endpoint_id', 'text', (c) => c.notNull())
          .addColumn('event_id', 'bigint', (c) => c.notNull())
          .addColumn('event_type', 'text', (c) => c.notNull())
          .addColumn('subject_id', 'text', (c) => c.notNull())
          .addColumn('status', 'text', (c) => c.notNull())
          .addColumn('attempts', 'integer', (c) => c.notNull().defaultTo(0))
          .addColumn('next_attempt_at_ms', 'bigint', (c) => c.notNull())
          .addColumn('claimed_until_ms', 'bigint')
          .addColumn('last_error', 'text')
          .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
          .addColumn('updated_at_ms', 'bigint', (c) => c.notNull())
          .addUniqueConstraint('webhook_deliveries_once', ['endpoint_id', 'event_id'])
          .execute();
        // The worker's work list: open deliveries by due time.
        await db.schema
          .createIndex('webhook_deliveries_due')
          .on('webhook_deliveries')
          .columns(['status', 'next_attempt_at_ms'])
          .execute();
        // "Is an earlier event of this order still open for this endpoint?"
        await db.schema
          .createIndex('webhook_deliveries_by_subject')
          .on('webhook_deliveries')
          .columns(['endpoint_id', 'subject_id', 'event_id'])
          .execute();

        await db.schema
          .createTable('webhook_attempts')
          .addColumn('delivery_id', 'text', (c) => c.notNull())
          .addColumn('attempt_no', 'integer', (c) => c.notNull())
          .addColumn('at_ms', 'bigint', (c) => c.notNull())
          .addColumn('status_code', 'integer')
          .addColumn('duration_ms', 'bigint', (c) => c.notNull())
          .addColumn('error', 'text')
          .addPrimaryKeyConstraint('webhook_attempts_pk', ['delivery_id', 'attempt_no'])
          .execute();

        // How far the fan-out has read the outbox (one row, name 'webhooks').
        await db.schema
          .createTable('outbox_cursors')
          .addColumn('name', 'text', (c) => c.primaryKey())
          .addColumn('last_event_id', 'bigint', (c) => c.notNull())
          .execute();
      },
    },
    '0003_api_keys': apiKeysMigration,
    '0004_ledger_by_order': {
      async up(db: Kysely<unknown>) {
        // The movements of one order (GET /v1/orders/{id}/ledger): every SKU of it, already in the
        // answer's (sku, seq) order, so the read is one range scan and no sort, however many
        // movements a hot SKU has. IF NOT EXISTS: on a large PostgreSQL ledger an operator can build
        // it first with CREATE INDEX CONCURRENTLY (this migration runs in a transaction, which
        // blocks ledger writes while it builds), and the migration then finds it done.
        await db.schema
          .createIndex('ledger_by_order')
          .ifNotExists()
          .on('ledger')
          .columns(['order_id', 'sku', 'seq'])
          .execute();
      },
    },
    '0005_api_key_last_used': apiKeyLastUsedMigration,
  };
}

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(this.dialect);
  }
}

export async function migrateToLatest(db: Kysely<unknown>, dialect: DialectName): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new StaticMigrationProvider(dialect) });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

export function pendingMigrationNames(applied: readonly string[], dialect: DialectName): string[] {
  return Object.keys(migrations(dialect)).filter((name) => !applied.includes(name));
}
