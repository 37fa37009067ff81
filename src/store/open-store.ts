// Opens the store a DATABASE_URL names.
import type { Config } from '../config.ts';
import { databaseLocation } from '../config.ts';
import type { KyselyStore } from './kysely-store.ts';
import { openPostgresStore } from './postgres/postgres-store.ts';
import { openSqliteStore } from './sqlite/sqlite-store.ts';

export type StoreConfig = Pick<
  Config,
  'DATABASE_URL' | 'PGUSER' | 'PGPASSWORD' | 'PG_POOL_SIZE' | 'PG_STATEMENT_TIMEOUT_MS'
>;

export function openStore(config: StoreConfig): Promise<KyselyStore> {
  const location = databaseLocation(config);
  if (location.kind === 'sqlite') return openSqliteStore(location.path);
  return openPostgresStore({
    url: location.url,
    pool_size: config.PG_POOL_SIZE,
    statement_timeout_ms: config.PG_STATEMENT_TIMEOUT_MS,
  });
}
