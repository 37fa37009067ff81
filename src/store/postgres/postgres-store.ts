// A store on PostgreSQL, opened from its URL and pool settings: what tests and benchmarks open
// directly; the server goes through openStore (src/store/open-store.ts).
import { KyselyStore, type KyselyStoreOptions } from '../kysely-store.ts';
import { connectPostgres, type PostgresOptions } from './connect.ts';

export async function openPostgresStore(
  options: PostgresOptions,
  store_options: KyselyStoreOptions = {},
): Promise<KyselyStore> {
  const { db, read_db, adapter } = await connectPostgres(options);
  return new KyselyStore(db, read_db, adapter, store_options);
}
