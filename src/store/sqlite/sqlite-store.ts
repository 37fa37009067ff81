// A store on SQLite, opened from a file path (or :memory:): what tests and benchmarks open directly;
// the server goes through openStore (src/store/open-store.ts).
import { KyselyStore, type KyselyStoreOptions } from '../kysely-store.ts';
import { connectSqlite } from './connect.ts';

export { SQLITE_MEMORY } from './connect.ts';

export async function openSqliteStore(path: string, options: KyselyStoreOptions = {}): Promise<KyselyStore> {
  const { db, read_db, adapter } = await connectSqlite(path);
  return new KyselyStore(db, read_db, adapter, options);
}
