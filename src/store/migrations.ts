// Runs the schema migrations of src/store/migrations/ (one file each, listed in order in its
// index.ts); Kysely's Migrator records and locks them, so several processes starting at once
// migrate exactly once.
import { type Kysely, type Migration, type MigrationProvider, Migrator } from 'kysely';
import { type DialectName, dialectNamed } from './dialects.ts';
import { migrations } from './migrations/index.ts';

// Tests and benchmarks name databases by this label; it lives with the registry.
export type { DialectName } from './dialects.ts';

class StaticMigrationProvider implements MigrationProvider {
  constructor(private readonly dialect: DialectName) {}
  async getMigrations(): Promise<Record<string, Migration>> {
    // What the migrations need to know of the database is its folder's (migration-dialect.ts).
    return migrations(dialectNamed(this.dialect).migration);
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
  return Object.keys(migrations(dialectNamed(dialect).migration));
}

export function pendingMigrationNames(applied: readonly string[], dialect: DialectName): string[] {
  return migrationNames(dialect).filter((name) => !applied.includes(name));
}
