// Verifies presented API keys against STOCKHOLD_API_KEYS and the api_keys table, with a small
// cache: every server process sees a new or revoked key within `cache_ttl_ms` (1 s by default).
// It also remembers when each database key was last accepted, for the server to write to the
// table now and then (flushLastUse): a write per request would cost more than the request.

import { type ApiKeyPrincipal, hashApiKey } from '../core/api-keys.ts';
import type { Clock } from '../core/clock.ts';
import { StockholdError } from '../core/errors.ts';
import type { ApiKeyRepository } from '../store/api-key-repository.ts';
import { isStorageUnavailable, storageUnavailableError } from '../store/storage-faults.ts';

/** Entries kept at most; the oldest is dropped first. Unknown keys are cached too (no DB flood). */
export const KEY_CACHE_ENTRIES_MAX = 10_000;

interface CacheEntry {
  principal: Promise<ApiKeyPrincipal | null>;
  checked_at_ms: number;
}

export class KeyVerifier {
  private readonly cache = new Map<string, CacheEntry>();
  private keys_exist: { value: Promise<boolean>; checked_at_ms: number } | null = null;
  /** When each database key (by id) was last accepted, since the last flushLastUse. */
  private readonly last_used = new Map<string, number>();

  constructor(
    private readonly repository: ApiKeyRepository,
    private readonly environment_keys: ReadonlyMap<string, ApiKeyPrincipal>,
    private readonly clock: Clock,
    private readonly cache_ttl_ms: number,
  ) {}

  /** The key's principal, or null for an unknown or revoked key. */
  async verify(key: string): Promise<ApiKeyPrincipal | null> {
    const key_hash = hashApiKey(key);
    const from_environment = this.environment_keys.get(key_hash);
    if (from_environment) return from_environment;
    const now_ms = this.clock.now();
    const cached = this.cache.get(key_hash);
    if (cached && now_ms - cached.checked_at_ms < this.cache_ttl_ms)
      return this.noteUse(await cached.principal, now_ms);
    // One lookup per key at a time: concurrent requests with the same key share the promise.
    const principal = this.repository.findActive(key_hash);
    this.cache.delete(key_hash);
    if (this.cache.size >= KEY_CACHE_ENTRIES_MAX) {
      const oldest = this.cache.keys().next();
      if (!oldest.done) this.cache.delete(oldest.value);
    }
    this.cache.set(key_hash, { principal, checked_at_ms: now_ms });
    try {
      return this.noteUse(await principal, now_ms);
    } catch (error) {
      this.cache.delete(key_hash);
      throw unavailable(error, 'cannot verify the API key now; retry');
    }
  }

  private noteUse(principal: ApiKeyPrincipal | null, now_ms: number): ApiKeyPrincipal | null {
    if (principal) this.last_used.set(principal.id, now_ms);
    return principal;
  }

  /**
   * Writes when each key was last accepted since the previous call; returns how many keys. On
   * failure the times are kept for the next call.
   */
  async flushLastUse(): Promise<number> {
    if (this.last_used.size === 0) return 0;
    const batch = new Map(this.last_used);
    this.last_used.clear();
    try {
      await this.repository.recordLastUse(batch);
    } catch (error) {
      for (const [id, at_ms] of batch) if (!this.last_used.has(id)) this.last_used.set(id, at_ms);
      throw error;
    }
    return batch.size;
  }

  /** Whether any key exists: in STOCKHOLD_API_KEYS or in the database (revoked keys count). */
  async anyKeyExists(): Promise<boolean> {
    if (this.environment_keys.size > 0) return true;
    const now_ms = this.clock.now();
    const known = this.keys_exist;
    // Once a key exists it always will (revoked rows stay), so a true answer is never asked again.
    if (known && (now_ms - known.checked_at_ms < this.cache_ttl_ms || (await known.value)))
      return known.value;
    const value = this.repository.anyExists();
    this.keys_exist = { value, checked_at_ms: now_ms };
    try {
      return await value;
    } catch (error) {
      this.keys_exist = null;
      throw unavailable(error, 'cannot read the API keys now; retry');
    }
  }
}

/** A failed key lookup: 503 with Retry-After when the database is away, not_ready otherwise. */
function unavailable(error: unknown, message: string): StockholdError {
  return isStorageUnavailable(error)
    ? storageUnavailableError(error, message)
    : new StockholdError('not_ready', message);
}
