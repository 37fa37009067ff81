// Every migration, in the order they run: one file each, one line each here. The names are what
// databases in the field have recorded in kysely_migration: never rename, reorder or edit one that
// has shipped; add a new one (docs/migrations.md).
import type { Migration } from 'kysely';
import { initialMigration } from './0001-initial.ts';
import { webhooksMigration } from './0002-webhooks.ts';
import { apiKeysMigration } from './0003-api-keys.ts';
import { ledgerByOrderMigration } from './0004-ledger-by-order.ts';
import { apiKeyLastUsedMigration } from './0005-api-key-last-used.ts';
import { orderLifeMigration } from './0006-order-life.ts';
import { skuLifeMigration } from './0007-sku-life.ts';
import { dropsMigration } from './0008-drops.ts';
import type { MigrationDialect } from './dialect.ts';

export type { MigrationDialect } from './dialect.ts';

export function migrations(dialect: MigrationDialect): Record<string, Migration> {
  return {
    '0001_initial': initialMigration(dialect),
    '0002_webhooks': webhooksMigration,
    '0003_api_keys': apiKeysMigration,
    '0004_ledger_by_order': ledgerByOrderMigration,
    '0005_api_key_last_used': apiKeyLastUsedMigration,
    '0006_order_life': orderLifeMigration,
    '0007_sku_life': skuLifeMigration,
    '0008_drops': dropsMigration,
  };
}
