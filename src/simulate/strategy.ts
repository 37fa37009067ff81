// What the runner asks of an inventory strategy: the things a shopper does (check out, pay, cancel,
// ask for more time), a clock tick, and a look at the stock counters. The legacy store and stockhold both answer to it.
import type { ScriptLine, SkuPlan } from './script.ts';

export type StrategyName = 'legacy' | 'stockhold';

export type CheckoutAnswer =
  | { ok: true; order_id: string }
  /** Turned away: `short_skus` are the lines the store said were out of stock. */
  | { ok: false; short_skus: string[] };

export type PaymentAnswer =
  | { ok: true; late: boolean }
  /** The payment was refused at once (and refunded): the order had expired and its stock was gone. */
  | { ok: false };

export interface StockCounters {
  /** What the store says can still be sold. */
  available: number;
  /** Units reserved for pending orders (always 0 in the legacy store, which holds nothing). */
  on_hold: number;
}

export interface StrategyEnd {
  /** The store's counters at the end, per SKU. */
  counters: Record<string, StockCounters>;
  /** The lowest `available` the store ever wrote, per SKU (exact, not sampled). */
  min_available: Record<string, number>;
  expired_holds: number;
  /** Problems the store's own audit found (null: the strategy has no audit). */
  audit_problems: string[] | null;
}

export interface Strategy {
  readonly name: StrategyName;
  /** Where its data lives, for the report (no password). */
  readonly location: string;
  setup(skus: readonly SkuPlan[]): Promise<void>;
  /** Moves the store's clock to the given simulated time and runs what is due then (expiry). */
  advanceTo(now_ms: number): Promise<void>;
  checkout(customer_id: string, lines: readonly ScriptLine[]): Promise<CheckoutAnswer>;
  pay(order_id: string, payment_id: string): Promise<PaymentAnswer>;
  cancel(order_id: string): Promise<void>;
  /** Moves the order's payment deadline `seconds` later; false when the strategy holds nothing to extend. */
  extend(order_id: string, seconds: number): Promise<boolean>;
  counters(skus: readonly string[]): Promise<Record<string, StockCounters>>;
  finish(skus: readonly string[]): Promise<StrategyEnd>;
  close(): Promise<void>;
}
