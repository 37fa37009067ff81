// What the migrations need to know of SQLite.
import type { MigrationDialect } from '../migrations/dialect.ts';

export const SQLITE_MIGRATION: MigrationDialect = {
  // SQLite's INTEGER PRIMARY KEY is its rowid; AUTOINCREMENT never reuses the id of a deleted row.
  generated_key: { type: 'integer', define: (column) => column.autoIncrement() },
};
