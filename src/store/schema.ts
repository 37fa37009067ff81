// Table types shared by every dialect. Times are integer milliseconds since the epoch, booleans are
// 0/1 integers: the same columns mean the same thing on SQLite and PostgreSQL.
//
// The tables the write path writes are listed once each, as a column map (name -> SQL type, `null`
// when it may be NULL): the bulk writes send their rows by it, and the row types are derived from it.
// The migrations (src/store/migrations/) stay as shipped: test/store/migrations-drift.test.ts holds
// the schema they build.
import type { Generated } from 'kysely';

/** Column types: PostgreSQL reads each value out of JSON as one of these. */
export type ColumnType = 'text' | 'bigint' | 'integer';
/** A column's type, and whether it may hold NULL. */
export type ColumnSpec = ColumnType | `${ColumnType} null`;
export type Columns = Readonly<Record<string, ColumnSpec>>;

type ValueOf<S extends ColumnSpec> = S extends `${infer T extends ColumnType} null`
  ? ValueOf<T> | null
  : S extends 'text'
    ? string
    : number;
/** The row a column map describes. */
export type RowOf<C extends Columns> = { -readonly [K in keyof C]: ValueOf<C[K]> };

/** The SQL type of a column, without its nullability. */
export function sqlTypeOf(spec: ColumnSpec): ColumnType {
  return spec.endsWith(' null') ? (spec.slice(0, -' null'.length) as ColumnType) : (spec as ColumnType);
}

/** Some columns of a map, with their types: for writes that touch only those. */
export function someColumns<C extends Columns, K extends keyof C & string>(
  columns: C,
  names: readonly K[],
): { readonly [N in K]: C[N] } {
  return Object.fromEntries(names.map((name) => [name, columns[name]])) as { [N in K]: C[N] };
}

/**
 * Decodes a row as the drivers return it: every number column as a number (PostgreSQL's bigint
 * arrives as text without the pool's parser), NULL kept.
 */
export function decodeRow<C extends Columns>(columns: C, row: Record<keyof C, unknown>): RowOf<C> {
  const decoded: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(columns)) {
    const value = row[name as keyof C];
    decoded[name] = value === null || sqlTypeOf(spec) === 'text' ? value : Number(value);
  }
  return decoded as RowOf<C>;
}

export const SKU_COLUMNS = {
  sku: 'text',
  name: 'text',
  available: 'bigint',
  on_hold: 'bigint',
  sold: 'bigint',
  max_per_customer: 'bigint null',
  version: 'bigint',
  created_at_ms: 'bigint',
  updated_at_ms: 'bigint',
  /** Added by migration 0007_sku_life. */
  low_stock_threshold: 'bigint null',
  /** 0/1; added by migration 0007_sku_life. */
  archived: 'integer',
  /** Added by migration 0008_drops. */
  drop_id: 'text null',
} as const satisfies Columns;
export type SkusTable = RowOf<typeof SKU_COLUMNS>;
/**
 * A SKU's buckets after a write, by its key (the first column). A change of its fields (a PATCH)
 * writes every column but the creation time instead (SKU_FIELD_UPDATE_COLUMNS).
 */
export const SKU_UPDATE_COLUMNS = someColumns(SKU_COLUMNS, [
  'sku',
  'available',
  'on_hold',
  'sold',
  'version',
  'updated_at_ms',
]);
/** A SKU whose fields changed, by its key: its buckets and every field. */
export const SKU_FIELD_UPDATE_COLUMNS = someColumns(SKU_COLUMNS, [
  'sku',
  'name',
  'available',
  'on_hold',
  'sold',
  'max_per_customer',
  'low_stock_threshold',
  'archived',
  'drop_id',
  'version',
  'updated_at_ms',
]);

export const ORDER_COLUMNS = {
  id: 'text',
  customer_id: 'text',
  status: 'text',
  created_at_ms: 'bigint',
  expires_at_ms: 'bigint',
  paid_at_ms: 'bigint null',
  payment_id: 'text null',
  late: 'integer',
  closed_at_ms: 'bigint null',
  /** Added by migration 0003_api_keys. */
  api_key_id: 'text null',
  /** Added by migration 0006_order_life. */
  extensions: 'integer',
  changes: 'integer',
} as const satisfies Columns;
export type OrdersTable = RowOf<typeof ORDER_COLUMNS>;
/** What changes of an existing order (it leaves pending_payment, gets a new deadline, is extended or changed), by its id (the first column). */
export const ORDER_CHANGE_COLUMNS = someColumns(ORDER_COLUMNS, [
  'id',
  'status',
  'paid_at_ms',
  'payment_id',
  'late',
  'closed_at_ms',
  'expires_at_ms',
  'extensions',
  'changes',
]);

export const ORDER_LINE_COLUMNS = {
  order_id: 'text',
  line_no: 'integer',
  sku: 'text',
  quantity: 'bigint',
} as const satisfies Columns;
export type OrderLinesTable = RowOf<typeof ORDER_LINE_COLUMNS>;

/** Units a paid order sold per SKU (migration 0006_order_life). */
export const ORDER_SOLD_LINE_COLUMNS = {
  order_id: 'text',
  sku: 'text',
  quantity: 'bigint',
} as const satisfies Columns;
export type OrderSoldLinesTable = RowOf<typeof ORDER_SOLD_LINE_COLUMNS>;

/** One row per line of each return of a paid order (migration 0006_order_life). */
export const ORDER_RETURN_COLUMNS = {
  order_id: 'text',
  return_no: 'integer',
  line_no: 'integer',
  sku: 'text',
  quantity: 'bigint',
  restock: 'integer',
  at_ms: 'bigint',
  reason: 'text null',
} as const satisfies Columns;
export type OrderReturnsTable = RowOf<typeof ORDER_RETURN_COLUMNS>;

/** One row per SKU a pending order holds; deleted when the order leaves pending_payment. */
export const HOLD_COLUMNS = {
  order_id: 'text',
  sku: 'text',
  quantity: 'bigint',
  expires_at_ms: 'bigint',
} as const satisfies Columns;
export type HoldsTable = RowOf<typeof HOLD_COLUMNS>;
/** An order's holds get a new deadline, by the order's id (the first column). */
export const HOLD_RESCHEDULE_COLUMNS = someColumns(HOLD_COLUMNS, ['order_id', 'expires_at_ms']);

export const LEDGER_COLUMNS = {
  sku: 'text',
  seq: 'bigint',
  at_ms: 'bigint',
  kind: 'text',
  order_id: 'text null',
  delta_available: 'bigint',
  delta_on_hold: 'bigint',
  delta_sold: 'bigint',
  available_after: 'bigint',
  on_hold_after: 'bigint',
  sold_after: 'bigint',
  reason: 'text null',
} as const satisfies Columns;
export type LedgerTable = RowOf<typeof LEDGER_COLUMNS>;

export const IDEMPOTENCY_KEY_COLUMNS = {
  key: 'text',
  fingerprint: 'text',
  outcome: 'text',
  created_at_ms: 'bigint',
} as const satisfies Columns;
export type IdempotencyKeysTable = RowOf<typeof IDEMPOTENCY_KEY_COLUMNS>;

/** The outbox's columns as written; its id the database numbers (in commit order). */
export const OUTBOX_COLUMNS = {
  type: 'text',
  subject_id: 'text',
  payload: 'text',
  created_at_ms: 'bigint',
} as const satisfies Columns;
export type OutboxTable = RowOf<typeof OUTBOX_COLUMNS> & { id: Generated<number> };

/** A drop (migration 0008_drops); positioned is 0/1, skus a JSON array. */
export const DROP_COLUMNS = {
  id: 'text',
  skus: 'text',
  starts_at_ms: 'bigint',
  ends_at_ms: 'bigint null',
  admission_per_second: 'bigint',
  admission_seconds: 'bigint',
  max_per_customer: 'bigint null',
  created_at_ms: 'bigint',
  positioned: 'integer',
  next_position: 'bigint',
  admitted_through: 'bigint',
  admission_clock_ms: 'bigint',
  sold_out_at_ms: 'bigint null',
} as const satisfies Columns;
export type DropsTable = RowOf<typeof DROP_COLUMNS>;

/** A customer's place in a drop's line (migration 0008_drops). */
export const DROP_TICKET_COLUMNS = {
  id: 'text',
  drop_id: 'text',
  customer_id: 'text',
  joined_at_ms: 'bigint',
  draw: 'bigint',
  position: 'bigint null',
  status: 'text',
  admission_token: 'text',
  admitted_at_ms: 'bigint null',
  admission_expires_at_ms: 'bigint null',
  used_at_ms: 'bigint null',
  order_id: 'text null',
} as const satisfies Columns;
export type DropTicketsTable = RowOf<typeof DROP_TICKET_COLUMNS>;
/** What a checkout changes of the ticket it uses, by its id (the first column). */
export const TICKET_USE_COLUMNS = someColumns(DROP_TICKET_COLUMNS, [
  'id',
  'status',
  'used_at_ms',
  'order_id',
]);

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
  /** extensions and changes have defaults (0): a row written without them, as before 0006, is valid. */
  orders: Omit<OrdersTable, 'extensions' | 'changes'> & {
    extensions: Generated<number>;
    changes: Generated<number>;
  };
  order_lines: OrderLinesTable;
  order_sold_lines: OrderSoldLinesTable;
  order_returns: OrderReturnsTable;
  holds: HoldsTable;
  ledger: LedgerTable;
  idempotency_keys: IdempotencyKeysTable;
  outbox: OutboxTable;
  webhook_endpoints: WebhookEndpointsTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webhook_attempts: WebhookAttemptsTable;
  outbox_cursors: OutboxCursorsTable;
  drops: DropsTable;
  drop_tickets: DropTicketsTable;
}
