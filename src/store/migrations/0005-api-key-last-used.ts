// Migration 0005_api_key_last_used: when a server last accepted each API key.
import type { Kysely, Migration } from 'kysely';

export const apiKeyLastUsedMigration: Migration = {
  async up(db: Kysely<unknown>) {
    // When a server last accepted the key (to the minute: KeyVerifier writes it once a minute).
    await db.schema.alterTable('api_keys').addColumn('last_used_at_ms', 'bigint').execute();
  },
};
