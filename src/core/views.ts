// The API's view of domain state (DESIGN.md: a sku, an order): what clients see and replays return.

import { linesOf, quantitiesBySku } from './lines.ts';
import type { LedgerEntry, OrderLine, OrderReturn, OrderState, OrderStatus, SkuState } from './types.ts';

export interface SkuView {
  sku: string;
  name: string;
  available: number;
  on_hold: number;
  sold: number;
  max_per_customer: number | null;
  low_stock_threshold: number | null;
  archived: boolean;
  /** Grows with every movement and field change: the seq of the SKU's latest ledger entry. */
  version: number;
  updated_at: string;
}

export interface OrderView {
  id: string;
  customer_id: string;
  status: OrderStatus;
  lines: { sku: string; quantity: number }[];
  created_at: string;
  expires_at: string;
  /** How many times the deadline was extended. */
  extensions: number;
  paid_at?: string;
  payment_id?: string;
  late?: boolean;
  /** Once paid: the units sold per SKU, and the units of the lines that went back to available. */
  sold_lines?: OrderLine[];
  released_lines?: OrderLine[];
  returns: ReturnView[];
}

export interface ReturnView {
  at: string;
  lines: OrderLine[];
  restock: boolean;
  reason: string | null;
}

export interface LedgerEntryView {
  /** Which SKU moved: an order's ledger holds entries of several. */
  sku: string;
  seq: number;
  at: string;
  kind: string;
  order_id: string | null;
  delta_available: number;
  delta_on_hold: number;
  delta_sold: number;
  available_after: number;
  on_hold_after: number;
  sold_after: number;
  reason: string | null;
}

const iso = (ms: number): string => new Date(ms).toISOString();

export function skuView(sku: SkuState): SkuView {
  return {
    sku: sku.sku,
    name: sku.name,
    available: sku.available,
    on_hold: sku.on_hold,
    sold: sku.sold,
    max_per_customer: sku.max_per_customer,
    low_stock_threshold: sku.low_stock_threshold,
    archived: sku.archived,
    version: sku.version,
    updated_at: iso(sku.updated_at_ms),
  };
}

export function orderView(order: OrderState): OrderView {
  // returns last: the keys keep the order the SQLite sweep renders (test/store/sweep-equivalence.test.ts).
  const view: Omit<OrderView, 'returns'> = {
    id: order.id,
    customer_id: order.customer_id,
    status: order.status,
    lines: order.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
    created_at: iso(order.created_at_ms),
    expires_at: iso(order.expires_at_ms),
    extensions: order.extensions ?? 0,
  };
  if (order.paid_at_ms !== null) view.paid_at = iso(order.paid_at_ms);
  if (order.payment_id !== null) view.payment_id = order.payment_id;
  if (order.late) view.late = true;
  if (order.status === 'paid') {
    const held = quantitiesBySku(order.lines);
    const sold = quantitiesBySku(order.sold_lines ?? order.lines);
    view.sold_lines = linesOf(sold);
    view.released_lines = linesOf(
      new Map([...held].map(([sku, quantity]) => [sku, quantity - (sold.get(sku) ?? 0)])),
    );
  }
  return { ...view, returns: (order.returns ?? []).map(returnView) };
}

export function returnView(record: OrderReturn): ReturnView {
  return {
    at: iso(record.at_ms),
    lines: record.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
    restock: record.restock,
    reason: record.reason,
  };
}

export function ledgerEntryView(entry: LedgerEntry): LedgerEntryView {
  return {
    sku: entry.sku,
    seq: entry.seq,
    at: iso(entry.at_ms),
    kind: entry.kind,
    order_id: entry.order_id,
    delta_available: entry.delta_available,
    delta_on_hold: entry.delta_on_hold,
    delta_sold: entry.delta_sold,
    available_after: entry.available_after,
    on_hold_after: entry.on_hold_after,
    sold_after: entry.sold_after,
    reason: entry.reason,
  };
}
