// Migration 0003_api_keys: the API keys table (hashes only), and the key that created each order.
import { type Kysely, type Migration, sql } from 'kysely';

export const apiKeysMigration: Migration = {
  async up(db: Kysely<unknown>) {
    await db.schema
      .createTable('api_keys')
      .addColumn('id', 'text', (c) => c.primaryKey())
      .addColumn('name', 'text', (c) => c.notNull())
      .addColumn('scope', 'text', (c) => c.notNull().check(sql`scope in ('admin', 'checkout', 'read')`))
      // SHA-256 of the whole key, hex: the only form of the secret the database ever holds.
      .addColumn('key_hash', 'text', (c) => c.notNull().unique())
      // The first characters of the key (`sh_checkout_AbCd1234`), to recognise it in lists and logs.
      .addColumn('prefix', 'text', (c) => c.notNull())
      .addColumn('created_at_ms', 'bigint', (c) => c.notNull())
      .addColumn('revoked_at_ms', 'bigint')
      .execute();
    await db.schema.alterTable('orders').addColumn('api_key_id', 'text').execute();
  },
};
