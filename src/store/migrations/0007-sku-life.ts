// Migration 0007_sku_life: a SKU's low-stock threshold and whether it is archived (issue 23).
import type { Kysely, Migration } from 'kysely';

export const skuLifeMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // null: no sku.low_stock event for this SKU.
    await db.schema.alterTable('skus').addColumn('low_stock_threshold', 'bigint').execute();
    // 0/1 like every boolean here; existing SKUs are not archived.
    await db.schema
      .alterTable('skus')
      .addColumn('archived', 'integer', (c) => c.notNull().defaultTo(0))
      .execute();
  },
};
