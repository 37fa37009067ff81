// Runs the schema migrations of src/store/migrations/ (one file each, listed in order in its
// index.ts); Kysely's Migrator records and locks them, so several processes starting at once
// migrate exactly once.
import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { type MigrationDialect, migrations } from './migrations/index.ts';

export type DialectName = 'sqlite' | 'postgres';

// What the migrations need to know of each database, looked up here once so that no migration
// tests a database's name.
const MIGRATION_DIALECTS: Record<DialectName, MigrationDialect> = {
  // SQLite's INTEGER PRIMARY KEY is its rowid; AUTOINCREMENT never reuses the id of a deleted row.
  sqlite: { generated_key: { type: 'integer', define: (column) => column.autoIncrement() } },
  // PostgreSQL needs an identity column.
  postgres: { generated_key: { type: 'bigint', define: (column) => column.generatedAlwaysAsIdentity() } },
};

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    return migrations(MIGRATION_DIALECTS[this.dialect]);
  }
}

/** Kysely's Migrator over this code's migrations (its own table names and locking). */
export function createMigrator(db: Kysely<unknown>, dialect: DialectName): Migrator {
  return new Migrator({ db, provider: new StaticMigrationProvider(dialect) });
}

export async function migrateToLatest(db: Kysely<unknown>, dialect: DialectName): Promise<string[]> {
  const { error, results } = await createMigrator(db, dialect).migrateToLatest();
  if (error) throw error instanceof Error ? error : new Error(String(error));
  return (results ?? [])
    .filter((result) => result.status === 'Success')
    .map((result) => result.migrationName);
}

/** Every migration's name, in the order they run. */
export function migrationNames(dialect: DialectName): string[] {
  return Object.keys(migrations(MIGRATION_DIALECTS[dialect]));
}

export function pendingMigrationNames(applied: readonly string[], dialect: DialectName): string[] {
  return migrationNames(dialect).filter((name) => !applied.includes(name));
}
