// Opens the store a DATABASE_URL names. It reads only the settings it needs, given by the caller
// (src/config.ts loads and validates them): storage sits below the config loader.
import { ConfigError } from '../core/config-error.ts';
import type { KyselyStore, KyselyStoreOptions } from './kysely-store.ts';
import { openPostgresStore } from './postgres/postgres-store.ts';
import { openSqliteStore } from './sqlite/sqlite-store.ts';

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

export type DatabaseLocation = { kind: 'sqlite'; path: string } | { kind: 'postgres'; url: string };

/** Reads DATABASE_URL; PGUSER/PGPASSWORD fill in a PostgreSQL URL that names no user or password. */
export function databaseLocation(config: DatabaseUrlConfig): DatabaseLocation {
  const url = config.DATABASE_URL;
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length);
    if (path === '')
      throw new ConfigError('invalid configuration: DATABASE_URL: sqlite: needs a path or :memory:');
    return { kind: 'sqlite', path };
  }
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError('invalid configuration: DATABASE_URL is not a valid postgres:// URL');
  }
  if (!parsed.username && config.PGUSER) parsed.username = encodeURIComponent(config.PGUSER);
  if (!parsed.password && config.PGPASSWORD) parsed.password = encodeURIComponent(config.PGPASSWORD);
  return { kind: 'postgres', url: parsed.toString() };
}

export function openStore(config: StoreConfig, options: KyselyStoreOptions = {}): Promise<KyselyStore> {
  const location = databaseLocation(config);
  if (location.kind === 'sqlite') return openSqliteStore(location.path, options);
  return openPostgresStore(
    {
      url: location.url,
      pool_size: config.PG_POOL_SIZE,
      statement_timeout_ms: config.PG_STATEMENT_TIMEOUT_MS,
    },
    options,
  );
}
