// The reads behind the operators' numbers (the /metrics gauges, the simulator's report): SQL kept in
// src/store, on the store's connections.
import { sql } from 'kysely';
import { ORDER_STATUS } from '../core/types.ts';
import { pastDeadline } from './deadline-sql.ts';
import type { RepositoryAccess } from './repository-access.ts';

export interface SkuBuckets {
  sku: string;
  available: number;
  on_hold: number;
  sold: number;
}

export class MetricReads {
  constructor(private readonly access: RepositoryAccess) {}

  /** The `limit` hottest SKUs by on_hold + sold (ties by sku), with their buckets. */
  async hottestSkus(limit: number): Promise<SkuBuckets[]> {
    const rows = await this.access.db
      .selectFrom('skus')
      .select(['sku', 'available', 'on_hold', 'sold'])
      .orderBy(sql`on_hold + sold`, 'desc')
      .orderBy('sku')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      sku: row.sku,
      available: Number(row.available),
      on_hold: Number(row.on_hold),
      sold: Number(row.sold),
    }));
  }

  /** The deadline of the oldest pending order past it at `now_ms` (the sweeper's lag), or null. */
  async oldestOverdueDeadline(now_ms: number): Promise<number | null> {
    const row = await this.access.db
      .selectFrom('orders')
      .select((eb) => eb.fn.min('expires_at_ms').as('oldest'))
      .where('status', '=', ORDER_STATUS.pending_payment)
      .where(pastDeadline('expires_at_ms', now_ms))
      .executeTakeFirst();
    return row?.oldest == null ? null : Number(row.oldest);
  }

  /** Orders whose holds ever expired (by the ledger's expiry releases). */
  async expiredOrderCount(): Promise<number> {
    const row = await this.access.db
      .selectFrom('ledger')
      .select(sql<number>`count(distinct order_id)`.as('orders'))
      .where('kind', '=', 'expiry_release')
      .executeTakeFirstOrThrow();
    return Number(row.orders);
  }
}
