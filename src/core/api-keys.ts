// What an API key is, apart from where it is stored or how a request carries it: its scopes, its
// format, its hash, and the parsing of keys given in STOCKHOLD_API_KEYS. Pure, so the config loader,
// the store and the HTTP layer can all share it without importing each other.
import { createHash, randomBytes } from 'node:crypto';

export const API_SCOPES = ['admin', 'checkout', 'read'] as const;
export type ApiScope = (typeof API_SCOPES)[number];

/** The caller a request was authenticated as (set by the access-control plugin, src/security). */
export interface ApiKeyPrincipal {
  id: string;
  name: string;
  scope: ApiScope;
}

/** 32 random bytes: 256 bits, so guessing or brute-forcing a key (or its hash) is out of reach. */
const KEY_RANDOM_BYTES = 32;
/** Keys given in STOCKHOLD_API_KEYS must be at least this long (a generated key is 52+ characters). */
export const API_KEY_LENGTH_MIN = 32;
export const API_KEY_LENGTH_MAX = 256;
/** Characters of a key kept in clear as its prefix: `sh_checkout_` plus 8 random characters. */
const PREFIX_RANDOM_CHARS = 8;

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
