// Opens the store a DATABASE_URL names. It reads only the settings it needs, given by the caller
// (src/config.ts loads and validates them): storage sits below the config loader. Which database a
// URL names, each database's folder says (src/store/dialects.ts lists them).
import { ConfigError } from '../core/config-error.ts';
import type { Dialect, StoreParts } from './dialect.ts';
import { type DatabaseLocation, DIALECTS, dialectNamed } from './dialects.ts';
import { KyselyStore, type KyselyStoreOptions } from './kysely-store.ts';

export type { DatabaseLocation } from './dialects.ts';

/** The settings of src/config.ts the store reads (the names and meanings are those of Config). */
export interface StoreConfig extends DatabaseUrlConfig {
  PG_POOL_SIZE: number;
  PG_STATEMENT_TIMEOUT_MS: number;
}

export interface DatabaseUrlConfig {
  DATABASE_URL: string;
  PGUSER?: string | undefined;
  PGPASSWORD?: string | undefined;
}

function unknownDatabase(): ConfigError {
  const names = DIALECTS.map((dialect) => dialect.name).join(', ');
  return new ConfigError(
    `invalid configuration: DATABASE_URL names none of the databases stockhold runs on (${names})`,
  );
}

/** Reads DATABASE_URL; PGUSER/PGPASSWORD fill in a PostgreSQL URL that names no user or password. */
export function databaseLocation(config: DatabaseUrlConfig): DatabaseLocation {
  for (const dialect of DIALECTS) {
    const location = dialect.locate(config);
    if (location !== null) return location;
  }
  throw unknownDatabase();
}

/** How a message names the database at `location` (see Dialect.describe). */
export function describeLocation(location: DatabaseLocation, form: 'as_given' | 'resolved'): string {
  // The location's own database reads it: its kind is that database's name.
  const dialect: Dialect<DatabaseLocation> = dialectNamed(location.kind);
  return dialect.describe(location, form);
}

/** Makes sure the database at `location` exists (see Dialect.ensureExists). */
export function ensureDatabaseExists(
  location: DatabaseLocation,
  create: boolean,
): Promise<'existed' | 'created'> {
  const dialect: Dialect<DatabaseLocation> = dialectNamed(location.kind);
  return dialect.ensureExists(location, create);
}

/** The connections of `dialect` when DATABASE_URL names it; null when it names another. */
function connectIfNamed<Location>(
  dialect: Dialect<Location>,
  config: StoreConfig,
): Promise<StoreParts> | null {
  const location = dialect.locate(config);
  return location === null ? null : dialect.connect(location, config);
}

export async function openStore(config: StoreConfig, options: KyselyStoreOptions = {}): Promise<KyselyStore> {
  for (const dialect of DIALECTS) {
    const connecting = connectIfNamed<DatabaseLocation>(dialect, config);
    if (connecting === null) continue;
    const { db, read_db, adapter } = await connecting;
    return new KyselyStore(db, read_db, adapter, options);
  }
  throw unknownDatabase();
}
