// Migration 0002_webhooks: webhook endpoints, their deliveries and attempts, and the fan-out's cursor
// over the outbox.
import type { Kysely, Migration } from 'kysely';

export const webhooksMigration: Migration = {
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
};
