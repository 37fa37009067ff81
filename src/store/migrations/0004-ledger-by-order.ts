// Migration 0004_ledger_by_order: the index that reads one order's movements.
import type { Kysely, Migration } from 'kysely';

export const ledgerByOrderMigration: Migration = {
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
};
