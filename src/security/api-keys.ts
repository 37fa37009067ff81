// API keys: how they are made, hashed, stored (table api_keys) and looked up. A key is shown once,
// at creation; the database only ever holds its SHA-256 hash.
import { createHash, randomBytes } from 'node:crypto';
import type { Kysely } from 'kysely';
import { API_SCOPES, type ApiKeyPrincipal, type ApiScope } from '../http/access.ts';
import { newId } from '../ids.ts';
import type { Database } from '../store/schema.ts';

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

/** 32 random bytes: 256 bits, so guessing or brute-forcing a key (or its hash) is out of reach. */
const KEY_RANDOM_BYTES = 32;
/** Keys given in STOCKHOLD_API_KEYS must be at least this long (a generated key is 52+ characters). */
export const API_KEY_LENGTH_MIN = 32;
export const API_KEY_LENGTH_MAX = 256;
/** Characters of a key kept in clear as its prefix: `sh_checkout_` plus 8 random characters. */
const PREFIX_RANDOM_CHARS = 8;
const NAME_LENGTH_MAX = 100;
const LIST_ROWS_MAX = 10_000;

export function isApiScope(value: string): value is ApiScope {
  return (API_SCOPES as readonly string[]).includes(value);
}

/**
 * SHA-256, hex. A fast unsalted hash is enough here, unlike for passwords: the keys are 256 random
 * bits, so there is no dictionary to try and no feasible brute force even with the hash in hand; a
 * slow hash (bcrypt, scrypt) would only cost every request time. Being unsalted and deterministic
 * is what lets a key be found by an indexed lookup of its hash.
 */
export function hashApiKey(key: string): string {
  return createHash('sha256').update(key, 'utf8').digest('hex');
}

/** A new random key for a scope: `sh_<scope>_<43 characters of base64url>`. */
export function generateApiKey(scope: ApiScope): string {
  return `sh_${scope}_${randomBytes(KEY_RANDOM_BYTES).toString('base64url')}`;
}

export function keyPrefix(key: string, scope: ApiScope): string {
  const head = `sh_${scope}_`;
  return key.startsWith(head)
    ? key.slice(0, head.length + PREFIX_RANDOM_CHARS)
    : key.slice(0, PREFIX_RANDOM_CHARS);
}

/** Reads `Authorization: Bearer <key>`; anything else is no key. */
export function bearerKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return null;
  const key = match[1]!;
  return key.length <= API_KEY_LENGTH_MAX ? key : null;
}

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

/** The api_keys table. Writes are rare (the CLI); reads are one indexed lookup by hash. */
export class ApiKeyRepository {
  private readonly db: Kysely<{ api_keys: ApiKeysTable }>;

  constructor(db: Kysely<Database>) {
    this.db = db.withTables<{ api_keys: ApiKeysTable }>();
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
    await this.db.insertInto('api_keys').values(row).execute();
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
  async revoke(id_or_prefix: string, now_ms: number): Promise<ApiKeyRecord> {
    const rows = await this.db
      .selectFrom('api_keys')
      .selectAll()
      .where((eb) => eb.or([eb('id', '=', id_or_prefix), eb('prefix', '=', id_or_prefix)]))
      .limit(2)
      .execute();
    if (rows.length === 0) throw new Error(`no API key has the id or prefix ${id_or_prefix}`);
    if (rows.length > 1) throw new Error(`several API keys have the prefix ${id_or_prefix}; revoke by id`);
    const row = rows[0]!;
    if (row.revoked_at_ms === null) {
      await this.db.updateTable('api_keys').set({ revoked_at_ms: now_ms }).where('id', '=', row.id).execute();
      row.revoked_at_ms = now_ms;
    }
    return recordOf(row);
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
    for (const [id, at_ms] of last_used) {
      await this.db
        .updateTable('api_keys')
        .set({ last_used_at_ms: at_ms })
        .where('id', '=', id)
        .where((eb) => eb.or([eb('last_used_at_ms', 'is', null), eb('last_used_at_ms', '<', at_ms)]))
        .execute();
    }
  }

  /** Whether any key was ever created (revoked ones count: revoking every key never reopens a server). */
  async anyExists(): Promise<boolean> {
    const row = await this.db.selectFrom('api_keys').select('id').limit(1).executeTakeFirst();
    return row !== undefined;
  }
}

export class ApiKeysConfigError extends Error {}

/**
 * Parses STOCKHOLD_API_KEYS (`admin:<key>,checkout:<key>,read:<key>`). Messages name the entry by
 * position and scope, never the key itself.
 */
export function parseEnvironmentKeys(text: string): Map<string, ApiKeyPrincipal> {
  const keys = new Map<string, ApiKeyPrincipal>();
  const entries = text.split(',').map((entry) => entry.trim());
  entries.forEach((entry, index) => {
    const where = `STOCKHOLD_API_KEYS entry ${index + 1}`;
    const colon = entry.indexOf(':');
    if (colon < 0) throw new ApiKeysConfigError(`${where} is not <scope>:<key>`);
    const scope = entry.slice(0, colon).trim();
    const key = entry.slice(colon + 1).trim();
    if (!isApiScope(scope))
      throw new ApiKeysConfigError(`${where} has an unknown scope (admin, checkout or read)`);
    if (key.length < API_KEY_LENGTH_MIN || key.length > API_KEY_LENGTH_MAX) {
      throw new ApiKeysConfigError(
        `${where} (${scope}): a key has ${API_KEY_LENGTH_MIN}..${API_KEY_LENGTH_MAX} characters (make one with: npx stockhold keys create)`,
      );
    }
    if (!/^[\x21-\x7e]+$/.test(key))
      throw new ApiKeysConfigError(`${where} (${scope}): a key is printable ASCII without spaces`);
    const key_hash = hashApiKey(key);
    if (keys.has(key_hash)) throw new ApiKeysConfigError(`${where} (${scope}) repeats an earlier key`);
    // A stable id derived from the hash: orders created with the key stay its own across restarts.
    keys.set(key_hash, {
      id: `env_${key_hash.slice(0, 16)}`,
      name: `STOCKHOLD_API_KEYS #${index + 1}`,
      scope,
    });
  });
  return keys;
}
