// Plain data of the domain: the three buckets of a SKU, orders, ledger movements, events, commands.

export interface SkuState {
  sku: string;
  name: string;
  available: number;
  on_hold: number;
  sold: number;
  max_per_customer: number | null;
  /** `sku.low_stock` fires when available falls to or below it; null: never. */
  low_stock_threshold: number | null;
  /** An archived SKU takes no new checkouts; its existing holds live on (issue 23). */
  archived: boolean;
  /** Bumped by every movement and field change; the ledger sequence number of the SKU's latest entry. */
  version: number;
  created_at_ms: number;
  updated_at_ms: number;
  /** The latest drop the SKU was put in (issue 24); it governs checkouts while open or running. */
  drop_id?: string | null;
}

export const ORDER_STATUS = Object.freeze({
  pending_payment: 'pending_payment',
  paid: 'paid',
  cancelled: 'cancelled',
  expired: 'expired',
} as const);
export type OrderStatus = (typeof ORDER_STATUS)[keyof typeof ORDER_STATUS];
export const ORDER_STATUSES = Object.values(ORDER_STATUS);

export interface OrderLine {
  sku: string;
  quantity: number;
}

export interface OrderState {
  id: string;
  customer_id: string;
  status: OrderStatus;
  lines: OrderLine[];
  created_at_ms: number;
  expires_at_ms: number;
  paid_at_ms: number | null;
  payment_id: string | null;
  late: boolean;
  /** When the order left pending_payment. */
  closed_at_ms: number | null;
  /** The API key that created the order (null in open mode): a checkout key sees only its own. */
  api_key_id?: string | null;
  /** How many times the deadline was extended (issue 23); 0 when absent. */
  extensions?: number;
  /** How many times its lines were changed while held (issue 23); 0 when absent. */
  changes?: number;
  /** Units sold per SKU, once paid: a partial capture sells part of the lines. Absent: all of them. */
  sold_lines?: OrderLine[] | null;
  /** The returns of a paid order, oldest first; none when absent. */
  returns?: OrderReturn[];
}

/** Units of a paid order given back: restocked (sold -> available) or written off (they leave the stock). */
export interface OrderReturn {
  at_ms: number;
  lines: OrderLine[];
  restock: boolean;
  reason: string | null;
}

export const MOVEMENT_KIND = Object.freeze({
  create: 'create',
  adjustment: 'adjustment',
  hold: 'hold',
  payment: 'payment',
  cancel_release: 'cancel_release',
  expiry_release: 'expiry_release',
  late_payment: 'late_payment',
  /** A change of a held order takes more units (available -> on_hold). */
  change_hold: 'change_hold',
  /** A change of a held order gives units back (on_hold -> available). */
  change_release: 'change_release',
  /** A partial capture: the held units not paid for go back (on_hold -> available). */
  capture_release: 'capture_release',
  /** A return put back on sale (sold -> available). */
  return_restock: 'return_restock',
  /** A return written off: the units leave the stock (sold goes down, nothing else). */
  return_writeoff: 'return_writeoff',
  /** A change of the SKU's fields (PATCH): no units move, but the version and the chain go on. */
  update: 'update',
  /** An ERP's count of the unsold units: available becomes the count minus on_hold. */
  count: 'count',
} as const);
export type MovementKind = (typeof MOVEMENT_KIND)[keyof typeof MOVEMENT_KIND];

/** Kinds that change the total stock; every other movement only moves units between buckets. */
export const STOCK_CHANGING_KINDS: ReadonlySet<MovementKind> = new Set([
  MOVEMENT_KIND.create,
  MOVEMENT_KIND.adjustment,
  MOVEMENT_KIND.return_writeoff,
  MOVEMENT_KIND.count,
]);

export interface LedgerEntry {
  sku: string;
  seq: number;
  at_ms: number;
  kind: MovementKind;
  order_id: string | null;
  delta_available: number;
  delta_on_hold: number;
  delta_sold: number;
  available_after: number;
  on_hold_after: number;
  sold_after: number;
  reason: string | null;
}

/** Every event type, in the order the API documents them (webhook subscriptions, the feed). */
export const EVENT_TYPES = Object.freeze([
  'sku.created',
  'sku.adjusted',
  'order.held',
  'order.paid',
  'order.cancelled',
  'order.expired',
  'order.extended',
  'order.changed',
  'order.returned',
  'sku.updated',
  'sku.counted',
  'sku.deleted',
  'sku.low_stock',
  'sku.sold_out',
  'sku.back_in_stock',
  'drop.sold_out',
] as const);
export type EventType = (typeof EVENT_TYPES)[number];

export interface DomainEvent {
  type: EventType;
  /** The order id, or the sku for sku events. */
  subject_id: string;
  at_ms: number;
  data: Record<string, unknown>;
}

export interface CreateSkuCommand {
  kind: 'create_sku';
  sku: string;
  name: string;
  available: number;
  max_per_customer: number | null;
}

export interface AdjustCommand {
  kind: 'adjust';
  sku: string;
  delta: number;
  reason: string | null;
  expected_available: number | null;
}

export interface CheckoutCommand {
  kind: 'checkout';
  order_id: string;
  customer_id: string;
  lines: OrderLine[];
  hold_seconds: number;
  /** The API key that sends the checkout, stored with the order (access control, issue 10). */
  api_key_id?: string | null;
  /** The customer's admission to a running drop of one of the lines' SKUs (issue 24). */
  admission_token?: string | null;
}

export interface PayCommand {
  kind: 'pay';
  order_id: string;
  payment_id: string;
  /** A partial capture: the units to sell, at most what is held per SKU; the rest is released. */
  lines?: OrderLine[] | null;
}

export interface CancelCommand {
  kind: 'cancel';
  order_id: string;
}

/** Moves a pending order's deadline later, within the caps the server is configured with. */
export interface ExtendCommand {
  kind: 'extend';
  order_id: string;
  seconds: number;
  reason: string | null;
  /** HOLD_EXTENSIONS_MAX: extensions an order may have. */
  extensions_max: number;
  /** HOLD_SECONDS_TOTAL_MAX: the deadline never passes created_at plus this. */
  hold_seconds_total_max: number;
}

/** Replaces a pending order's lines: increases are held, decreases released; the deadline stays. */
export interface ChangeOrderCommand {
  kind: 'change_order';
  order_id: string;
  lines: OrderLine[];
}

/** Gives back units of a paid order: restocked, or written off. */
export interface ReturnCommand {
  kind: 'return';
  order_id: string;
  lines: OrderLine[];
  restock: boolean;
  reason: string | null;
}

/** A change of a SKU's fields; an absent field stays as it is. */
export interface UpdateSkuCommand {
  kind: 'update_sku';
  sku: string;
  name?: string;
  max_per_customer?: number | null;
  low_stock_threshold?: number | null;
  archived?: boolean;
  expected_version: number | null;
}

/** An ERP's count: `unsold` units are not sold (available + on_hold); the holds stay. */
export interface CountCommand {
  kind: 'count';
  sku: string;
  unsold: number;
  reason: string | null;
  expected_version: number | null;
}

/** Removes a SKU that never moved stock nor was changed since its creation. */
export interface DeleteSkuCommand {
  kind: 'delete_sku';
  sku: string;
}

/** Puts SKUs behind a waiting room from `starts_at_ms` (issue 24). */
export interface CreateDropCommand {
  kind: 'create_drop';
  drop_id: string;
  skus: string[];
  starts_at_ms: number;
  ends_at_ms: number | null;
  admission_per_second: number;
  admission_seconds: number;
  max_per_customer: number | null;
}

export type Command =
  | CreateDropCommand
  | CreateSkuCommand
  | AdjustCommand
  | CheckoutCommand
  | PayCommand
  | CancelCommand
  | ExtendCommand
  | ChangeOrderCommand
  | ReturnCommand
  | UpdateSkuCommand
  | CountCommand
  | DeleteSkuCommand;
