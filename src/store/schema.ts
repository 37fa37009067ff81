// Table types shared by every dialect. Times are integer milliseconds since the epoch, booleans are
// 0/1 integers: the same columns mean the same thing on SQLite and PostgreSQL.
import type { Generated } from 'kysely';

export interface SkusTable {
  sku: string;
  name: string;
  available: number;
  on_hold: number;
  sold: number;
  max_per_customer: number | null;
  version: number;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface OrdersTable {
  id: string;
  customer_id: string;
  status: string;
  created_at_ms: number;
  expires_at_ms: number;
  paid_at_ms: number | null;
  payment_id: string | null;
  late: number;
  closed_at_ms: number | null;
  /** Added by migration 0003_api_keys. */
  api_key_id: string | null;
}

export interface OrderLinesTable {
  order_id: string;
  line_no: number;
  sku: string;
  quantity: number;
}

/** One row per SKU a pending order holds; deleted when the order leaves pending_payment. */
export interface HoldsTable {
  order_id: string;
  sku: string;
  quantity: number;
  expires_at_ms: number;
}

export interface LedgerTable {
  sku: string;
  seq: number;
  at_ms: number;
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

export interface IdempotencyKeysTable {
  key: string;
  fingerprint: string;
  outcome: string;
  created_at_ms: number;
}

export interface OutboxTable {
  id: Generated<number>;
  type: string;
  subject_id: string;
  payload: string;
  created_at_ms: number;
}

export interface WebhookEndpointsTable {
  id: string;
  url: string;
  secret: string;
  event_types: string | null;
  active: number;
  created_at_ms: number;
  deleted_at_ms: number | null;
}

export interface WebhookDeliveriesTable {
  id: string;
  endpoint_id: string;
  event_id: number;
  event_type: string;
  subject_id: string;
  status: string;
  attempts: number;
  next_attempt_at_ms: number;
  claimed_until_ms: number | null;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface WebhookAttemptsTable {
  delivery_id: string;
  attempt_no: number;
  at_ms: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

export interface OutboxCursorsTable {
  name: string;
  last_event_id: number;
}

export interface Database {
  skus: SkusTable;
  orders: OrdersTable;
  order_lines: OrderLinesTable;
  holds: HoldsTable;
  ledger: LedgerTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox: OutboxTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  outbox_cursors: OutboxCursorsTable;
}
