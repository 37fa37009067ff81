// Checks the invariants of DESIGN.md over recomputed totals: the pure half of `stockhold verify`.
import type { LedgerEntry } from './types.ts';
export interface SkuTotals {
  sku: string;
  available: number;
  on_hold: number;
  sold: number;
  version: number;
  /** Sums over the ledger. */
  ledger_available: number;
  ledger_on_hold: number;
  ledger_sold: number;
  ledger_stock_changes: number;
  ledger_entries: number;
  ledger_max_seq: number;
  /** Sum of the hold rows of the SKU. */
  holds: number;
  /** Sums of the order lines of pending and of paid orders. */
  pending_quantity: number;
  paid_quantity: number;
}

export interface AuditReport {
  skus_checked: number;
  orders_checked: number;
  ledger_entries_checked: number;
  problems: string[];
}

export function auditSku(t: SkuTotals): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${t.sku}: ${what}`);
  for (const bucket of ['available', 'on_hold', 'sold'] as const) {
    if (t[bucket] < 0) say(`${bucket} is negative (${t[bucket]})`);
  }
  if (t.available + t.on_hold + t.sold !== t.ledger_stock_changes) {
    say(
      `available + on_hold + sold = ${t.available + t.on_hold + t.sold}, but the adjustments sum to ${t.ledger_stock_changes}`,
    );
  }
  if (t.ledger_available !== t.available)
    say(`ledger recomputes available ${t.ledger_available}, row has ${t.available}`);
  if (t.ledger_on_hold !== t.on_hold)
    say(`ledger recomputes on_hold ${t.ledger_on_hold}, row has ${t.on_hold}`);
  if (t.ledger_sold !== t.sold) say(`ledger recomputes sold ${t.ledger_sold}, row has ${t.sold}`);
  if (t.ledger_entries !== t.version || t.ledger_max_seq !== t.version) {
    say(
      `ledger has ${t.ledger_entries} entries up to seq ${t.ledger_max_seq}, row is at version ${t.version}`,
    );
  }
  if (t.holds !== t.on_hold) say(`hold rows sum to ${t.holds}, on_hold is ${t.on_hold}`);
  if (t.pending_quantity !== t.on_hold)
    say(`pending orders hold ${t.pending_quantity}, on_hold is ${t.on_hold}`);
  if (t.paid_quantity !== t.sold) say(`paid orders hold ${t.paid_quantity}, sold is ${t.sold}`);
  return problems;
}

/** One ledger row, as the deep audit reads it (kind unchecked: an unknown kind is a finding). */
export type LedgerRow = Omit<LedgerEntry, 'at_ms' | 'reason' | 'kind'> & { kind: string };

export interface Buckets {
  available: number;
  on_hold: number;
  sold: number;
}

/**
 * Walks one SKU's ledger in seq order and checks it is a chain: seq 1, 2, 3... without gaps, each
 * row's `*_after` is the previous row's plus its deltas and never negative, movements that are not
 * adjustments conserve stock, and the chain ends on the SKU row's buckets.
 */
export class LedgerChainCheck {
  private expected_seq = 1;
  private buckets: Buckets = { available: 0, on_hold: 0, sold: 0 };
  readonly problems: string[] = [];

  constructor(readonly sku: string) {}

  add(row: LedgerRow, stock_changing: ReadonlySet<string>): void {
    const say = (what: string) => this.problems.push(`${this.sku}: ledger seq ${row.seq}: ${what}`);
    if (row.seq !== this.expected_seq) {
      say(`expected seq ${this.expected_seq} (the ledger has a gap or a duplicate)`);
    }
    this.expected_seq = row.seq + 1;
    const next = {
      available: this.buckets.available + row.delta_available,
      on_hold: this.buckets.on_hold + row.delta_on_hold,
      sold: this.buckets.sold + row.delta_sold,
    };
    for (const bucket of ['available', 'on_hold', 'sold'] as const) {
      const after = row[`${bucket}_after`];
      if (after !== next[bucket])
        say(`${bucket}_after is ${after}, previous row + delta gives ${next[bucket]}`);
      if (after < 0) say(`${bucket}_after is negative (${after})`);
    }
    if (!stock_changing.has(row.kind) && row.delta_available + row.delta_on_hold + row.delta_sold !== 0) {
      say(`a ${row.kind} movement changes the total stock`);
    }
    this.buckets = { available: row.available_after, on_hold: row.on_hold_after, sold: row.sold_after };
  }

  finish(row: Buckets & { version: number }): string[] {
    const end = this.buckets;
    if (end.available !== row.available || end.on_hold !== row.on_hold || end.sold !== row.sold) {
      this.problems.push(
        `${this.sku}: the ledger ends at available ${end.available}, on_hold ${end.on_hold}, sold ${end.sold}; ` +
          `the row has ${row.available}, ${row.on_hold}, ${row.sold}`,
      );
    }
    if (this.expected_seq - 1 !== row.version) {
      this.problems.push(
        `${this.sku}: the ledger ends at seq ${this.expected_seq - 1}, the row is at version ${row.version}`,
      );
    }
    return this.problems;
  }
}

/** What one order is, with its holds and its ledger movements grouped per SKU and kind. */
export interface OrderAuditInput {
  id: string;
  status: string;
  late: boolean;
  expires_at_ms: number;
  paid_at_ms: number | null;
  payment_id: string | null;
  closed_at_ms: number | null;
  /** Per SKU, the sum of the order's lines. */
  quantities: Map<string, number>;
  /** Per SKU, the hold row (quantity and deadline). */
  holds: Map<string, { quantity: number; expires_at_ms: number }>;
  /** Per SKU, per movement kind: how many ledger rows and their summed deltas. */
  movements: Map<string, Map<string, { count: number } & Buckets>>;
  /** Per SKU, the units a paid order sold (its sold lines). */
  sold: Map<string, number>;
  /** Per SKU, the units of its returns put back on sale, and written off. */
  restocked: Map<string, number>;
  written_off: Map<string, number>;
}

const CHANGES = ['change_hold', 'change_release'];
const RETURNS = ['return_restock', 'return_writeoff'];
/** The movement kinds an order in each state may have made, per SKU. */
const ALLOWED_KINDS: Record<string, readonly string[]> = {
  pending_payment: ['hold', ...CHANGES],
  paid: ['hold', ...CHANGES, 'payment', 'capture_release', ...RETURNS],
  paid_late: ['hold', ...CHANGES, 'expiry_release', 'late_payment', ...RETURNS],
  cancelled: ['hold', ...CHANGES, 'cancel_release'],
  expired: ['hold', ...CHANGES, 'expiry_release'],
};
/** Kinds that happen at most once per order and SKU: a hold is taken once and closed once. */
const ONCE = new Set([
  'hold',
  'payment',
  'capture_release',
  'cancel_release',
  'expiry_release',
  'late_payment',
]);

/** The kinds a SKU of the order's lines must have been moved by, in its state (besides the taking). */
function requiredKinds(state: string, quantity: number, sold: number): string[] {
  switch (state) {
    case 'paid':
      return [...(sold > 0 ? ['payment'] : []), ...(sold < quantity ? ['capture_release'] : [])];
    case 'paid_late':
      return ['expiry_release', ...(sold > 0 ? ['late_payment'] : [])];
    case 'cancelled':
      return ['cancel_release'];
    case 'expired':
      return ['expiry_release'];
    default:
      return [];
  }
}

/** The net change of each bucket the order's movements of one SKU must add up to. */
function expectedNet(
  state: string,
  quantity: number,
  sold: number,
  restocked: number,
  written_off: number,
): Buckets {
  if (state === 'pending_payment') return { available: -quantity, on_hold: quantity, sold: 0 };
  if (state === 'paid' || state === 'paid_late') {
    return { available: -sold + restocked, on_hold: 0, sold: sold - restocked - written_off };
  }
  return { available: 0, on_hold: 0, sold: 0 };
}

/** Checks one order against its holds, its sold lines, its returns and its ledger movements. */
export function auditOrder(order: OrderAuditInput): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`order ${order.id}: ${what}`);
  const state = order.status === 'paid' && order.late ? 'paid_late' : order.status;
  if (!ALLOWED_KINDS[state]) return [`order ${order.id}: unknown status ${order.status}`];
  if (order.quantities.size === 0) say('has no lines');
  if (order.late && order.status !== 'paid') say(`is marked late but is ${order.status}`);
  if (order.status === 'paid' && (order.payment_id === null || order.paid_at_ms === null)) {
    say('is paid without a payment_id or paid_at');
  }
  if ((order.status === 'pending_payment') !== (order.closed_at_ms === null)) {
    say(`is ${order.status} with closed_at ${order.closed_at_ms ?? 'unset'}`);
  }
  if (order.status !== 'paid' && order.sold.size > 0) say(`is ${order.status} but has sold lines`);
  for (const sku of order.holds.keys()) {
    if (!order.quantities.has(sku)) say(`holds ${sku}, which it has no line of`);
  }
  const skus = new Set([...order.quantities.keys(), ...order.movements.keys(), ...order.sold.keys()]);
  for (const sku of skus)
    problems.push(...auditOrderSku(order, state, sku).map((what) => `order ${order.id}: ${what}`));
  return problems;
}

/** One SKU of an order: its hold, what it sold and returned, and the movements that add up to them. */
function auditOrderSku(order: OrderAuditInput, state: string, sku: string): string[] {
  const problems: string[] = [];
  const quantity = order.quantities.get(sku) ?? 0;
  const sold = order.sold.get(sku) ?? 0;
  const restocked = order.restocked.get(sku) ?? 0;
  const written_off = order.written_off.get(sku) ?? 0;
  const hold = order.holds.get(sku);
  if (state === 'pending_payment' && quantity > 0) {
    if (!hold || hold.quantity !== quantity)
      problems.push(`holds ${hold?.quantity ?? 0} of ${sku}, its lines sum to ${quantity}`);
    else if (hold.expires_at_ms !== order.expires_at_ms)
      problems.push(`hold of ${sku} expires at another time than the order`);
  } else if (hold && state !== 'pending_payment') {
    problems.push(`is ${order.status} but still holds ${hold.quantity} of ${sku}`);
  }
  if (sold > quantity) problems.push(`sold ${sold} of ${sku}, its lines sum to ${quantity}`);
  if (restocked + written_off > sold)
    problems.push(`returned ${restocked + written_off} of ${sku}, sold ${sold}`);
  const movements = order.movements.get(sku) ?? new Map<string, { count: number } & Buckets>();
  const allowed = ALLOWED_KINDS[state] ?? [];
  const required = quantity > 0 ? requiredKinds(state, quantity, sold) : [];
  const taken = movements.has('hold') || movements.has('change_hold');
  const wrong =
    [...movements].some(([kind, m]) => !allowed.includes(kind) || (ONCE.has(kind) && m.count !== 1)) ||
    required.some((kind) => !movements.has(kind)) ||
    (quantity > 0 && !taken);
  if (wrong) {
    const described = [...movements].map(([kind, m]) => `${kind} x${m.count}`).join(', ') || 'none';
    const want = ['hold', ...required].join(',');
    problems.push(`${sku} moved by [${described}], a ${state} order moves it by [${want}] once each`);
  }
  const total = { available: 0, on_hold: 0, sold: 0 };
  for (const m of movements.values()) {
    total.available += m.available;
    total.on_hold += m.on_hold;
    total.sold += m.sold;
  }
  const net = expectedNet(state, quantity, sold, restocked, written_off);
  for (const bucket of ['available', 'on_hold', 'sold'] as const) {
    if (total[bucket] !== net[bucket]) {
      problems.push(`${sku}: its movements change ${bucket} by ${total[bucket]}, expected ${net[bucket]}`);
    }
  }
  return problems;
}
