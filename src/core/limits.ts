// Every bound of the public API and of the service's own work, in one place (DESIGN.md, Limits).
const LINES_PER_ORDER_MAX = 100;
/** For one order, a SKU moves on hold, then on payment, cancel or expiry, then on a late payment. */
const MOVEMENTS_PER_ORDER_SKU_MAX = 3;
/** Changes of one held order (PATCH) and returns of one paid order: each is bounded, so its ledger is. */
const ORDER_CHANGES_MAX = 10;
const ORDER_RETURNS_MAX = 10;

export const LIMITS = {
  quantity_min: 1,
  quantity_max: 1_000_000,
  lines_per_order_max: LINES_PER_ORDER_MAX,
  /** Ledger entries of one order, all its SKUs: why GET /v1/orders/{id}/ledger needs no pages. */
  // A change moves at most every old and every new line's SKU; a return at most each of its lines'.
  order_ledger_entries_max:
    LINES_PER_ORDER_MAX * MOVEMENTS_PER_ORDER_SKU_MAX +
    ORDER_CHANGES_MAX * 2 * LINES_PER_ORDER_MAX +
    ORDER_RETURNS_MAX * LINES_PER_ORDER_MAX,
  order_changes_max: ORDER_CHANGES_MAX,
  order_returns_max: ORDER_RETURNS_MAX,
  extension_seconds_min: 1,
  extension_seconds_max: 86_400,
  /** HOLD_EXTENSIONS_MAX and HOLD_SECONDS_TOTAL_MAX when not configured. */
  hold_extensions_max_default: 3,
  hold_seconds_total_max_default: 3600,
  hold_seconds_min: 1,
  hold_seconds_max: 86_400,
  hold_seconds_default: 900,
  sku_id_length_max: 64,
  sku_id_pattern: '^[A-Za-z0-9._-]{1,64}$',
  name_length_max: 200,
  customer_id_length_max: 128,
  payment_id_length_max: 128,
  reason_length_max: 500,
  /** An adjustment moves at most this many units at once; a bucket stays far below 2^53. */
  adjustment_delta_max: 1_000_000_000,
  initial_available_max: 1_000_000_000,
  max_per_customer_max: 1_000_000,
  /** The largest low_stock_threshold, and the largest count an ERP may send (as for a new SKU). */
  low_stock_threshold_max: 1_000_000_000,
  count_unsold_max: 1_000_000_000,
  idempotency_key_length_max: 255,
  idempotency_retention_ms: 24 * 60 * 60 * 1000,
  body_bytes_max: 64 * 1024,
  /** Nesting of arrays and objects in a request body; no request of the API needs more than 4. */
  json_depth_max: 32,
  page_size_default: 50,
  page_size_max: 500,
  /** Expired orders one lazy reclaim releases for one SKU inside a checkout transaction. */
  lazy_reclaim_orders_max: 500,
  /** Drops (issue 24): the SKUs one drop governs, its admission rate and how long an admission lasts. */
  drop_skus_max: 50,
  admission_per_second_min: 1,
  admission_per_second_max: 10_000,
  admission_per_second_default: 50,
  admission_seconds_min: 10,
  admission_seconds_max: 86_400,
  admission_seconds_default: 300,
  admission_token_length_max: 128,
  /** How far ahead a drop may start: a typo of a year is refused, not queued for it. */
  drop_starts_within_ms: 366 * 24 * 60 * 60 * 1000,
} as const;
