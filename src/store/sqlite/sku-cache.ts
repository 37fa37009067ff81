// SKU states in memory on SQLite, where this process is the only writer: the store keeps each one
// as its last commit left it, and a read of a kept SKU costs no SQL. Bounded: the least recently
// read SKU goes first. A write by another process (a second server or a tool on the same file, which
// SQLite allows) is seen through the writer's `data_version`, and empties the cache.
import type { SkuState } from '../../core/types.ts';
import type { SkuCache } from '../dialect.ts';

/** SKUs kept at most: a flash sale's hot SKUs, and far less memory than SQLite's page cache. */
export const SKU_CACHE_MAX = 10_000;

/**
 * `others_version` answers a number that changes when another connection commits to the file
 * (`pragma data_version` of the writer: its own commits leave it as it is).
 */
export class SqliteSkuCache implements SkuCache {
  private readonly skus = new Map<string, SkuState>();
  private writes = 0;
  private others_seen: number;

  constructor(
    private readonly others_version: () => number,
    private readonly max = SKU_CACHE_MAX,
  ) {
    this.others_seen = others_version();
  }

  get(sku: string): SkuState | undefined {
    this.dropIfOthersWrote();
    const state = this.skus.get(sku);
    if (state === undefined) return undefined;
    // Most recently read last: a Map keeps insertion order.
    this.skus.delete(sku);
    this.skus.set(sku, state);
    return state;
  }

  generation(): number {
    this.dropIfOthersWrote();
    return this.writes;
  }

  fill(sku: SkuState, generation: number): void {
    if (generation !== this.writes || this.others_version() !== this.others_seen) return;
    this.skus.delete(sku.sku);
    // Frozen where it stands: the caller answers this very object, and none may change it here.
    this.skus.set(sku.sku, Object.freeze(sku));
    const oldest = this.skus.keys().next();
    if (this.skus.size > this.max && !oldest.done) this.skus.delete(oldest.value);
  }

  committed(skus: readonly SkuState[], deleted: readonly string[] = []): void {
    this.writes += 1;
    // Kept SKUs only: a write does not make a SKU worth keeping, a read does.
    for (const sku of skus) if (this.skus.has(sku.sku)) this.skus.set(sku.sku, frozen(sku));
    for (const sku of deleted) this.skus.delete(sku);
  }

  forget(skus: readonly string[]): void {
    this.writes += 1;
    for (const sku of skus) this.skus.delete(sku);
  }

  clear(): void {
    this.writes += 1;
    this.skus.clear();
  }

  private dropIfOthersWrote(): void {
    const version = this.others_version();
    if (version === this.others_seen) return;
    this.others_seen = version;
    this.clear();
  }
}

/** A copy no caller can change under the cache. */
function frozen(sku: SkuState): SkuState {
  return Object.freeze({ ...sku });
}
