// What the migrations need to know of PostgreSQL.
import type { MigrationDialect } from '../migrations/dialect.ts';

export const POSTGRES_MIGRATION: MigrationDialect = {
  // PostgreSQL needs an identity column.
  generated_key: { type: 'bigint', define: (column) => column.generatedAlwaysAsIdentity() },
};
