// Migration 0008_drops (issue 24): drops, their tickets, and the drop a SKU is in.
import { type Kysely, type Migration, sql } from 'kysely';

export const dropsMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // The latest drop the SKU was put in; it governs checkouts only while open or running.
    await db.schema.alterTable('skus').addColumn('drop_id', 'text').execute();
    await db.schema
      .createTable('drops')
      .addColumn('id', 'text', (c) => c.primaryKey())
      // A JSON array of SKU ids, as created (at most LIMITS.drop_skus_max).
      .addColumn('skus', 'text', (c) => c.notNull())
      .addColumn('starts_at_ms', 'bigint', (c) => c.notNull())
      .addColumn('ends_at_ms', 'bigint')
      .addColumn('admission_per_second', 'bigint', (c) => c.notNull().check(sql`admission_per_second > 0`))
      .addColumn('admission_seconds', 'bigint', (c) => c.notNull().check(sql`admission_seconds > 0`))
      .addColumn('max_per_customer', 'bigint')
      .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
      .addColumn('positioned', 'integer', (c) => c.notNull())
      .addColumn('next_position', 'bigint', (c) => c.notNull())
      .addColumn('admitted_through', 'bigint', (c) =>
        c.notNull().check(sql`admitted_through >= 0 and admitted_through <= next_position`),
      )
      .addColumn('admission_clock_ms', 'bigint', (c) => c.notNull())
      .addColumn('sold_out_at_ms', 'bigint')
      .execute();
    await db.schema
      .createTable('drop_tickets')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('drop_id', 'text', (c) => c.notNull())
      .addColumn('customer_id', 'text', (c) => c.notNull())
      .addColumn('joined_at_ms', 'bigint', (c) => c.notNull())
      .addColumn('draw', 'bigint', (c) => c.notNull())
      .addColumn('position', 'bigint')
      .addColumn('status', 'text', (c) => c.notNull())
      .addColumn('admission_token', 'text', (c) => c.notNull())
      .addColumn('admitted_at_ms', 'bigint')
      .addColumn('admission_expires_at_ms', 'bigint')
      .addColumn('used_at_ms', 'bigint')
      .addColumn('order_id', 'text')
      .execute();
    // One ticket per customer per drop: a second ask finds the first.
    await db.schema
      .createIndex('drop_tickets_customer')
      .on('drop_tickets')
      .columns(['drop_id', 'customer_id'])
      .unique()
      .execute();
    // Admission by position; each position is handed out once.
    await db.schema
      .createIndex('drop_tickets_position')
      .on('drop_tickets')
      .columns(['drop_id', 'position'])
      .unique()
      .execute();
    // The counts by status, and the admitted pace of the last seconds.
    await db.schema
      .createIndex('drop_tickets_status')
      .on('drop_tickets')
      .columns(['drop_id', 'status', 'admitted_at_ms'])
      .execute();
  },
};
