// The api_keys table (hashes only, never a key): how keys are stored and looked up. What a key is
// (scopes, format, hash) lives in src/core/api-keys.ts; how a request carries one, in src/security.
import type { Kysely } from 'kysely';
import {
  type ApiKeyPrincipal,
  type ApiScope,
  generateApiKey,
  hashApiKey,
  isApiScope,
  keyPrefix,
} from '../core/api-keys.ts';
import { newId } from '../ids.ts';
import type { RepositoryAccess } from './repository-access.ts';

export interface ApiKeysTable {
  id: string;
  name: string;
  scope: string;
  key_hash: string;
  prefix: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
  /** Added by migration 0005_api_key_last_used. */
  last_used_at_ms: number | null;
}

export interface ApiKeyRecord {
  id: string;
  name: string;
  scope: ApiScope;
  prefix: string;
  created_at_ms: number;
  revoked_at_ms: number | null;
  /** When a server last accepted the key, to the minute (KeyVerifier); null if never. */
  last_used_at_ms: number | null;
}

const NAME_LENGTH_MAX = 100;
const LIST_ROWS_MAX = 10_000;

function recordOf(row: ApiKeysTable): ApiKeyRecord {
  if (!isApiScope(row.scope)) throw new Error(`api key ${row.id} has an unknown scope ${row.scope}`);
  return {
    id: row.id,
    name: row.name,
    scope: row.scope,
    prefix: row.prefix,
    created_at_ms: Number(row.created_at_ms),
    revoked_at_ms: row.revoked_at_ms === null ? null : Number(row.revoked_at_ms),
    last_used_at_ms: row.last_used_at_ms === null ? null : Number(row.last_used_at_ms),
  };
}

type ApiKeysDatabase = { api_keys: ApiKeysTable };

/**
 * The api_keys table, built by the store on its connections (store.api_keys). Writes are rare (the
 * CLI, the last-use flush) and run in the store's transactions; reads are one indexed lookup by hash.
 */
export class ApiKeyRepository {
  private readonly db: Kysely<ApiKeysDatabase>;

  constructor(private readonly access: RepositoryAccess) {
    this.db = access.db.withTables<ApiKeysDatabase>();
  }

  /** `work` in one of the store's write transactions, over the api_keys table. */
  private transaction<T>(work: (trx: Kysely<ApiKeysDatabase>) => Promise<T>): Promise<T> {
    return this.access.transaction((trx) => work(trx.withTables<ApiKeysDatabase>()));
  }

  /** Creates a key; the returned `key` is the only time the secret exists outside the caller. */
  async create(input: {
    scope: ApiScope;
    name: string;
    now_ms: number;
  }): Promise<{ record: ApiKeyRecord; key: string }> {
    const name = input.name.trim();
    if (name.length < 1 || name.length > NAME_LENGTH_MAX)
      throw new Error(`a key name has 1..${NAME_LENGTH_MAX} characters`);
    const key = generateApiKey(input.scope);
    const row: ApiKeysTable = {
      id: newId(),
      name,
      scope: input.scope,
      key_hash: hashApiKey(key),
      prefix: keyPrefix(key, input.scope),
      created_at_ms: input.now_ms,
      revoked_at_ms: null,
      last_used_at_ms: null,
    };
    await this.transaction((trx) => trx.insertInto('api_keys').values(row).execute());
    return { record: recordOf(row), key };
  }

  async list(): Promise<ApiKeyRecord[]> {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .orderBy('id')
      .limit(LIST_ROWS_MAX)
      .execute();
    return rows.map(recordOf);
  }

  /** Revokes the key with this id or prefix; refuses a prefix that names several keys. */
  revoke(id_or_prefix: string, now_ms: number): Promise<ApiKeyRecord> {
    return this.transaction(async (trx) => {
      const rows = await trx
        .selectFrom('api_keys')
        .selectAll()
        .where((eb) => eb.or([eb('id', '=', id_or_prefix), eb('prefix', '=', id_or_prefix)]))
        .limit(2)
        .execute();
      const [row, other] = rows;
      if (row === undefined) throw new Error(`no API key has the id or prefix ${id_or_prefix}`);
      if (other !== undefined)
        throw new Error(`several API keys have the prefix ${id_or_prefix}; revoke by id`);
      if (row.revoked_at_ms === null) {
        await trx.updateTable('api_keys').set({ revoked_at_ms: now_ms }).where('id', '=', row.id).execute();
        row.revoked_at_ms = now_ms;
      }
      return recordOf(row);
    });
  }

  /** The active (not revoked) key with this hash, or null. */
  async findActive(key_hash: string): Promise<ApiKeyPrincipal | null> {
    const row = await this.db
      .selectFrom('api_keys')
      .select(['id', 'name', 'scope'])
      .where('key_hash', '=', key_hash)
      .where('revoked_at_ms', 'is', null)
      .executeTakeFirst();
    if (!row || !isApiScope(row.scope)) return null;
    return { id: row.id, name: row.name, scope: row.scope };
  }

  /**
   * Records when each key (by id) was last accepted. A time never moves back, so servers that write
   * at different moments leave the latest.
   */
  async recordLastUse(last_used: ReadonlyMap<string, number>): Promise<void> {
    if (last_used.size === 0) return;
    await this.transaction(async (trx) => {
      for (const [id, at_ms] of last_used) {
        await trx
          .updateTable('api_keys')
          .set({ last_used_at_ms: at_ms })
          .where('id', '=', id)
          .where((eb) => eb.or([eb('last_used_at_ms', 'is', null), eb('last_used_at_ms', '<', at_ms)]))
          .execute();
      }
    });
  }

  /** Whether any key was ever created (revoked ones count: revoking every key never reopens a server). */
  async anyExists(): Promise<boolean> {
    const row = await this.db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }
}
