// Domain states as the core tests build them: one SKU and one pending order, each overridable.
import type { OrderLine, OrderState, SkuState } from '../../src/core/types.ts';

/** The moment every core test starts at. */
export const T0 = Date.UTC(2026, 11, 12);

/** A SKU created at T0 with 10 available and nothing held or sold, unless `fields` says otherwise. */
export function skuState(id: string, fields: Partial<SkuState> = {}): SkuState {
  return {
    sku: id,
    name: id,
    available: 10,
    on_hold: 0,
    sold: 0,
    max_per_customer: null,
    low_stock_threshold: null,
    archived: false,
    version: 1,
    created_at_ms: T0,
    updated_at_ms: T0,
    ...fields,
  };
}

/** An order of alice's, held since T0 until T0 + 60 s, unless `fields` says otherwise. */
export function pendingOrder(id: string, lines: OrderLine[], fields: Partial<OrderState> = {}): OrderState {
  return {
    id,
    customer_id: 'alice',
    status: 'pending_payment',
    lines,
    created_at_ms: T0,
    expires_at_ms: T0 + 60_000,
    paid_at_ms: null,
    payment_id: null,
    late: false,
    closed_at_ms: null,
    ...fields,
  };
}
