// The domain engine: decides commands over an in-memory snapshot of the rows one transaction has
// loaded, applies the movements, and records what the store must write as explicit Effects (rows,
// holds, ledger, events). Pure: no I/O. Every movement asserts the bucket invariants, so a wrong
// decision cannot be written.
import {
  admissionRefusal,
  type DropState,
  type DropView,
  dropLimitRefusal,
  dropView,
  isLive,
  TICKET_STATUS,
  type TicketState,
  ticketKey,
} from './drops.ts';
import { type Effects, EffectsRecorder, type Hold } from './effects.ts';
import {
  assert,
  orderNotFound,
  StockholdError,
  skuArchived,
  skuNotFound,
  skuVersionConflict,
} from './errors.ts';
import { LIMITS } from './limits.ts';
import { linesInOrderOf, quantitiesBySku } from './lines.ts';
import {
  type AdjustCommand,
  type CancelCommand,
  type ChangeOrderCommand,
  type CheckoutCommand,
  type CountCommand,
  type CreateDropCommand,
  type CreateSkuCommand,
  type DeleteSkuCommand,
  type DomainEvent,
  type EventType,
  type ExtendCommand,
  type LedgerEntry,
  MOVEMENT_KIND,
  type MovementKind,
  ORDER_STATUS,
  type OrderLine,
  type OrderState,
  type PayCommand,
  type ReturnCommand,
  type SkuState,
  STOCK_CHANGING_KINDS,
  type UpdateSkuCommand,
} from './types.ts';
import { type OrderView, orderView, returnView, type SkuView, skuView } from './views.ts';

export type Decision<T> = { ok: true; value: T } | { ok: false; error: StockholdError };

const accept = <T>(value: T): Decision<T> => ({ ok: true, value });
const refuse = <T>(error: StockholdError): Decision<T> => ({ ok: false, error });

export { quantitiesBySku };

/**
 * The expiry rule. A hold is valid while now < expires_at, so `<=`: a hold whose deadline is now has
 * lapsed. Its SQL twin is pastDeadline in src/store/deadline-sql.ts.
 */
export function isPastDeadline(order: OrderState, now_ms: number): boolean {
  return now_ms >= order.expires_at_ms;
}

export function assertSkuInvariants(sku: SkuState): void {
  for (const bucket of ['available', 'on_hold', 'sold'] as const) {
    const value = sku[bucket];
    assert(Number.isSafeInteger(value) && value >= 0, `${sku.sku}.${bucket} = ${value} must be >= 0`);
  }
}

/** The holds a pending order has: one per SKU of its lines, summed, until its deadline. */
export function holdsOf(order: OrderState, totals = quantitiesBySku(order.lines)): Hold[] {
  return [...totals].map(([sku, quantity]) => ({
    order_id: order.id,
    sku,
    quantity,
    expires_at_ms: order.expires_at_ms,
  }));
}

/** The refusal of a compare-and-set on the SKU's version, or null when it matches (or none is asked). */
function versionConflict(sku: SkuState, expected_version: number | null): StockholdError | null {
  if (expected_version === null || expected_version === sku.version) return null;
  return skuVersionConflict(sku.sku, sku.version, expected_version);
}

/** The key of one customer's use of one SKU, wherever per-customer limits are counted. */
export const usageKey = (customer_id: string, sku: string): string => `${customer_id}\u0000${sku}`;

export class Workspace {
  readonly skus = new Map<string, SkuState>();
  readonly orders = new Map<string, OrderState>();
  /** Drops the loaded SKUs are in (and drops being created), by id. */
  readonly drops = new Map<string, DropState>();
  /** Customers' tickets of those drops, by ticketKey. */
  readonly tickets = new Map<string, TicketState>();
  private readonly recorded = new EffectsRecorder();
  /** Units a customer holds or bought per limited SKU; loaded only for the pairs being checked. */
  private readonly usage = new Map<string, number>();
  /** Each existing SKU's available before this transaction first moved it: the stock events' baseline. */
  private readonly available_before = new Map<string, number>();

  constructor(readonly now_ms: number) {}

  /** Ledger entries of this transaction's movements, in order. */
  get ledger(): readonly LedgerEntry[] {
    return this.recorded.ledger;
  }

  /** Events of this transaction's decisions, in order, then its stock events. */
  get events(): readonly DomainEvent[] {
    return [...this.recorded.events, ...this.stockEvents()];
  }

  /** What the store must write for every decision taken so far. */
  effects(): Effects {
    return this.recorded.effects(this.skus, this.orders, this.stockEvents());
  }

  /**
   * Emits the stock events of the decision just taken (one command), after its own events, and
   * starts the next decision's baseline. Called once per command (`decide` in commands.ts), so a
   * group commit emits what the same commands would emit one transaction each: 300 checkouts that
   * cross the threshold once emit one event, and a SKU sold out, restocked and sold out again by
   * three commands emits the events of each crossing. A sweep's batch settles once, at the end.
   */
  settleStockEvents(): void {
    for (const event of this.stockEvents()) this.emit(event.type, event.subject_id, event.data);
    this.available_before.clear();
  }

  /**
   * sku.low_stock, sku.sold_out and sku.back_in_stock of the SKUs moved since the last settlement:
   * each SKU's available before its first movement since then against its available now (a decision
   * that sells out and restocks a SKU emits none: the state a reader meets never crossed).
   */
  private stockEvents(): DomainEvent[] {
    const events: DomainEvent[] = [];
    for (const [id, before] of this.available_before) {
      const sku = this.skus.get(id);
      if (sku === undefined) continue; // deleted in this transaction
      const after = sku.available;
      const threshold = sku.low_stock_threshold;
      const data = { sku: skuView(sku), available_before: before };
      if (threshold !== null && before > threshold && after <= threshold) {
        events.push(this.stockEvent('sku.low_stock', id, data));
      }
      if (before > 0 && after === 0) events.push(this.stockEvent('sku.sold_out', id, data));
      if (before === 0 && after > 0) events.push(this.stockEvent('sku.back_in_stock', id, data));
    }
    return events;
  }

  private stockEvent(type: EventType, subject_id: string, data: Record<string, unknown>): DomainEvent {
    return { type, subject_id, at_ms: this.now_ms, data };
  }

  loadSku(sku: SkuState): void {
    assertSkuInvariants(sku);
    if (!this.skus.has(sku.sku)) this.skus.set(sku.sku, { ...sku });
  }

  loadOrder(order: OrderState): void {
    if (!this.orders.has(order.id)) this.orders.set(order.id, { ...order, lines: [...order.lines] });
  }

  loadDrop(drop: DropState): void {
    if (!this.drops.has(drop.id)) this.drops.set(drop.id, { ...drop, skus: [...drop.skus] });
  }

  loadTicket(ticket: TicketState): void {
    const key = ticketKey(ticket.drop_id, ticket.customer_id);
    if (!this.tickets.has(key)) this.tickets.set(key, { ...ticket });
  }

  /** The live drop that governs a loaded SKU now, if any. */
  liveDropOf(sku_id: string): DropState | undefined {
    const drop_id = this.skus.get(sku_id)?.drop_id ?? null;
    const drop = drop_id === null ? undefined : this.drops.get(drop_id);
    return drop !== undefined && isLive(drop, this.now_ms) ? drop : undefined;
  }

  /**
   * Puts SKUs behind a waiting room. Each must exist and be in no other live drop; the drop's row
   * and each SKU's drop_id are written, no unit moves.
   */
  createDrop(command: CreateDropCommand): Decision<DropView> {
    if (this.drops.has(command.drop_id)) {
      return refuse(
        new StockholdError('drop_exists', `drop ${command.drop_id} exists`, { drop_id: command.drop_id }),
      );
    }
    if (command.starts_at_ms > this.now_ms + LIMITS.drop_starts_within_ms) {
      return refuse(new StockholdError('invalid_request', 'starts_at is more than a year ahead'));
    }
    const missing = command.skus.filter((id) => !this.skus.has(id));
    if (missing.length > 0) return refuse(skuNotFound(missing));
    const taken = command.skus.flatMap((id) => {
      const drop = this.liveDropOf(id);
      return drop === undefined ? [] : [{ sku: id, drop_id: drop.id }];
    });
    if (taken.length > 0) {
      return refuse(
        new StockholdError('sku_in_drop', 'a sku is in another drop that is open or running', {
          skus: taken,
        }),
      );
    }
    const drop: DropState = {
      id: command.drop_id,
      skus: [...command.skus],
      starts_at_ms: command.starts_at_ms,
      ends_at_ms: command.ends_at_ms,
      admission_per_second: command.admission_per_second,
      admission_seconds: command.admission_seconds,
      max_per_customer: command.max_per_customer,
      created_at_ms: this.now_ms,
      positioned: false,
      next_position: 0,
      admitted_through: 0,
      admission_clock_ms: command.starts_at_ms,
      sold_out_at_ms: null,
    };
    this.drops.set(drop.id, drop);
    this.recorded.dropCreated(drop);
    for (const id of command.skus) {
      this.requireSku(id).drop_id = drop.id;
      this.recorded.skuUpdated(id);
    }
    return accept(dropView(drop, this.now_ms));
  }

  /**
   * The refusal of holding `totals` for this customer under the live drops of their SKUs, or null.
   * `admission` is what the request presents: a checkout's token, or the changed order's id.
   */
  private dropRefusal(
    customer_id: string,
    totals: ReadonlyMap<string, number>,
    admission: { token: string | null; order_id: string | null },
  ): { error: StockholdError | null; tickets: TicketState[] } {
    const units = new Map<DropState, number>();
    for (const [id, quantity] of totals) {
      const drop = this.liveDropOf(id);
      if (drop !== undefined) units.set(drop, (units.get(drop) ?? 0) + quantity);
    }
    const tickets: TicketState[] = [];
    for (const [drop, quantity] of units) {
      const ticket = this.tickets.get(ticketKey(drop.id, customer_id));
      const error =
        admissionRefusal(drop, ticket, admission, this.now_ms) ?? dropLimitRefusal(drop, quantity);
      if (error) return { error, tickets: [] };
      if (ticket !== undefined && admission.order_id === null) tickets.push(ticket);
    }
    return { error: null, tickets };
  }

  loadUsage(customer_id: string, sku: string, quantity: number): void {
    const key = usageKey(customer_id, sku);
    if (!this.usage.has(key)) this.usage.set(key, quantity);
  }

  createSku(command: CreateSkuCommand): Decision<SkuView> {
    if (this.skus.has(command.sku)) {
      return refuse(
        new StockholdError('sku_exists', `sku ${command.sku} already exists`, { sku: command.sku }),
      );
    }
    const sku: SkuState = {
      sku: command.sku,
      name: command.name,
      available: 0,
      on_hold: 0,
      sold: 0,
      max_per_customer: command.max_per_customer,
      low_stock_threshold: null,
      archived: false,
      version: 0,
      created_at_ms: this.now_ms,
      updated_at_ms: this.now_ms,
    };
    this.skus.set(sku.sku, sku);
    this.recorded.skuCreated(sku.sku);
    this.move(sku, MOVEMENT_KIND.create, null, command.available, 0, 0, 'created');
    this.emit('sku.created', sku.sku, { sku: skuView(sku) });
    return accept(skuView(sku));
  }

  adjust(command: AdjustCommand): Decision<SkuView> {
    const sku = this.skus.get(command.sku);
    if (!sku) return refuse(skuNotFound([command.sku]));
    if (command.expected_available !== null && command.expected_available !== sku.available) {
      return refuse(
        new StockholdError(
          'version_conflict',
          `available is ${sku.available}, not the expected ${command.expected_available}`,
          { sku: sku.sku, available: sku.available, expected_available: command.expected_available },
        ),
      );
    }
    if (sku.available + command.delta < 0) {
      return refuse(
        new StockholdError(
          'insufficient_stock',
          `cannot remove ${-command.delta} units: ${sku.available} available`,
          {
            sku: sku.sku,
            available: sku.available,
            delta: command.delta,
          },
        ),
      );
    }
    this.move(sku, MOVEMENT_KIND.adjustment, null, command.delta, 0, 0, command.reason);
    this.emit('sku.adjusted', sku.sku, { sku: skuView(sku), delta: command.delta, reason: command.reason });
    return accept(skuView(sku));
  }

  /** A change of the SKU's fields; an absent field stays. One `update` ledger entry names the fields. */
  updateSku(command: UpdateSkuCommand): Decision<SkuView> {
    const sku = this.skus.get(command.sku);
    if (!sku) return refuse(skuNotFound([command.sku]));
    const conflict = versionConflict(sku, command.expected_version);
    if (conflict) return refuse(conflict);
    const changed: string[] = [];
    const set = <F extends 'name' | 'max_per_customer' | 'low_stock_threshold' | 'archived'>(
      field: F,
      value: SkuState[F] | undefined,
    ) => {
      if (value === undefined || value === sku[field]) return;
      sku[field] = value;
      changed.push(field);
    };
    set('name', command.name);
    set('max_per_customer', command.max_per_customer);
    set('low_stock_threshold', command.low_stock_threshold);
    set('archived', command.archived);
    // Nothing differs: nothing to record, the version stays.
    if (changed.length === 0) return accept(skuView(sku));
    this.move(sku, MOVEMENT_KIND.update, null, 0, 0, 0, `updated ${changed.join(', ')}`);
    this.recorded.skuUpdated(sku.sku);
    this.emit('sku.updated', sku.sku, { sku: skuView(sku), changed });
    return accept(skuView(sku));
  }

  /**
   * An ERP's count: `unsold` units are available or held. The holds stay, so available becomes
   * unsold - on_hold in one movement; a count below the holds would lose a hold and is refused.
   */
  count(command: CountCommand): Decision<SkuView> {
    const sku = this.skus.get(command.sku);
    if (!sku) return refuse(skuNotFound([command.sku]));
    const conflict = versionConflict(sku, command.expected_version);
    if (conflict) return refuse(conflict);
    if (command.unsold < sku.on_hold) {
      return refuse(
        new StockholdError(
          'count_below_holds',
          `the count ${command.unsold} is below the ${sku.on_hold} units on hold`,
          { sku: sku.sku, unsold: command.unsold, on_hold: sku.on_hold },
        ),
      );
    }
    const delta = command.unsold - sku.on_hold - sku.available;
    this.move(sku, MOVEMENT_KIND.count, null, delta, 0, 0, command.reason);
    this.emit('sku.counted', sku.sku, {
      sku: skuView(sku),
      unsold: command.unsold,
      delta,
      reason: command.reason,
    });
    return accept(skuView(sku));
  }

  /** Removes a SKU whose ledger is its creation alone: it never had an order, a movement or a change. */
  deleteSku(command: DeleteSkuCommand): Decision<SkuView> {
    const sku = this.skus.get(command.sku);
    if (!sku) return refuse(skuNotFound([command.sku]));
    if (sku.version !== 1) {
      return refuse(
        new StockholdError(
          'sku_in_use',
          `sku ${sku.sku} has a history (${sku.version} ledger entries): archive it instead`,
          { sku: sku.sku, version: sku.version },
        ),
      );
    }
    if ((sku.drop_id ?? null) !== null) {
      // A drop names its SKUs for good (its page, its counts): such a SKU is archived, not deleted.
      return refuse(
        new StockholdError('sku_in_use', `sku ${sku.sku} is in drop ${sku.drop_id}: archive it instead`, {
          sku: sku.sku,
          drop_id: sku.drop_id,
        }),
      );
    }
    assert(sku.on_hold === 0 && sku.sold === 0, `sku ${sku.sku} at version 1 holds and sold nothing`);
    this.skus.delete(sku.sku);
    this.available_before.delete(sku.sku);
    this.recorded.skuDeleted(sku.sku);
    this.emit('sku.deleted', sku.sku, { sku: skuView(sku) });
    return accept(skuView(sku));
  }

  /**
   * The refusal of new holds of archived SKUs among `sku_ids` (all loaded), or null when none is.
   * Checkout decides with it; so does a change of an order's lines, for the SKUs it adds or raises.
   */
  archivedRefusal(sku_ids: Iterable<string>): StockholdError | null {
    const archived = [...sku_ids].filter((id) => this.requireSku(id).archived);
    return archived.length === 0 ? null : skuArchived(archived);
  }

  checkout(command: CheckoutCommand): Decision<OrderView> {
    assert(!this.orders.has(command.order_id), `order id ${command.order_id} is new`);
    const totals = quantitiesBySku(command.lines);
    const missing = [...totals.keys()].filter((id) => !this.skus.has(id));
    if (missing.length > 0) return refuse(skuNotFound(missing));
    const archived = this.archivedRefusal(totals.keys());
    if (archived) return refuse(archived);
    const gate = this.dropRefusal(command.customer_id, totals, {
      token: command.admission_token ?? null,
      order_id: null,
    });
    if (gate.error) return refuse(gate.error);

    const over_limit = this.overLimit(command.customer_id, totals);
    if (over_limit.length > 0) {
      return refuse(
        new StockholdError('limit_exceeded', 'the order exceeds the per-customer limit of a sku', {
          lines: over_limit,
        }),
      );
    }

    const short = this.shortLines(totals);
    if (short.length > 0) {
      return refuse(
        new StockholdError('insufficient_stock', 'not enough stock for every line', { lines: short }),
      );
    }

    const order: OrderState = {
      id: command.order_id,
      customer_id: command.customer_id,
      status: ORDER_STATUS.pending_payment,
      lines: command.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
      created_at_ms: this.now_ms,
      expires_at_ms: this.now_ms + command.hold_seconds * 1000,
      paid_at_ms: null,
      payment_id: null,
      late: false,
      closed_at_ms: null,
      api_key_id: command.api_key_id ?? null,
    };
    this.orders.set(order.id, order);
    this.recorded.orderCreated(order.id);
    for (const [id, quantity] of totals) {
      this.move(this.requireSku(id), MOVEMENT_KIND.hold, order.id, -quantity, quantity, 0, null);
      this.addUsage(order.customer_id, id, quantity);
    }
    this.recorded.holdsPlaced(holdsOf(order, totals));
    for (const ticket of gate.tickets) {
      // Only a running drop's admitted ticket passes the gate; it is spent on this order.
      if (ticket.status !== TICKET_STATUS.admitted) continue;
      ticket.status = TICKET_STATUS.used;
      ticket.used_at_ms = this.now_ms;
      ticket.order_id = order.id;
      this.recorded.ticketUsed(ticket);
    }
    this.emitOrder('order.held', order);
    return accept(orderView(order));
  }

  pay(command: PayCommand): Decision<OrderView> {
    const order = this.orders.get(command.order_id);
    if (!order) return refuse(orderNotFound(command.order_id));
    if (order.status === ORDER_STATUS.pending_payment && isPastDeadline(order, this.now_ms)) {
      this.expire(order.id);
    }
    switch (order.status) {
      case ORDER_STATUS.paid:
        if (order.payment_id === command.payment_id) return accept(orderView(order));
        return refuse(
          new StockholdError('already_paid', 'the order was paid with another payment_id', {
            order_id: order.id,
          }),
        );
      case ORDER_STATUS.cancelled:
        return refuse(
          new StockholdError('order_cancelled', 'the order was cancelled', { order_id: order.id }),
        );
      case ORDER_STATUS.pending_payment:
        return this.payHeld(order, command);
      case ORDER_STATUS.expired:
        return this.payLate(order, command);
    }
  }

  /** Sells what the payment captures (every held unit unless it names lines); the rest goes back to available. */
  private payHeld(order: OrderState, command: PayCommand): Decision<OrderView> {
    const capture = this.captureOf(order, command.lines);
    if (!capture.ok) return capture;
    for (const [id, quantity] of quantitiesBySku(order.lines)) {
      const sold = capture.value.get(id) ?? 0;
      const released = quantity - sold;
      const sku = this.requireSku(id);
      if (sold > 0) this.move(sku, MOVEMENT_KIND.payment, order.id, 0, -sold, sold, null);
      if (released > 0) this.move(sku, MOVEMENT_KIND.capture_release, order.id, released, -released, 0, null);
    }
    this.recorded.holdsReleased(order.id);
    this.markPaid(order, command.payment_id, false, capture.value);
    return accept(orderView(order));
  }

  /**
   * The units a payment sells per SKU: all the order's lines, or the `lines` it names, each SKU of
   * the order and at most what the order holds (or held, for a late payment).
   */
  private captureOf(
    order: OrderState,
    lines: readonly OrderLine[] | null | undefined,
  ): Decision<Map<string, number>> {
    const held = quantitiesBySku(order.lines);
    if (lines === null || lines === undefined) return accept(held);
    const capture = quantitiesBySku(lines);
    // A SKU the order never held is over its hold of 0 (schema-valid input is never a 400).
    const over = [...capture]
      .filter(([id, quantity]) => quantity > (held.get(id) ?? 0))
      .map(([id, quantity]) => ({ sku: id, requested: quantity, held: held.get(id) ?? 0 }));
    if (over.length > 0) {
      return refuse(
        new StockholdError('capture_exceeds_hold', 'the payment captures more than the order holds', {
          order_id: order.id,
          lines: over,
        }),
      );
    }
    return accept(capture);
  }

  /**
   * A payment after expiry re-acquires every line from available, or does not happen at all: also
   * when it would take the customer past a SKU's max_per_customer (their allowance went to later
   * orders once this one expired), or an expired order would be a way round the limit.
   */
  private payLate(order: OrderState, command: PayCommand): Decision<OrderView> {
    const capture = this.captureOf(order, command.lines);
    if (!capture.ok) return capture;
    const totals = capture.value;
    const over_limit = this.overLimit(order.customer_id, totals);
    if (over_limit.length > 0) {
      return refuse(
        new StockholdError(
          'order_expired',
          "the order expired and paying it now would exceed the customer's per-customer limit: refund",
          { order_id: order.id, lines: over_limit },
        ),
      );
    }
    const short = this.shortLines(totals);
    if (short.length > 0) {
      return refuse(
        new StockholdError(
          'order_expired',
          'the order expired and its stock is no longer available: refund',
          {
            order_id: order.id,
            lines: short,
          },
        ),
      );
    }
    for (const [id, quantity] of totals) {
      this.move(this.requireSku(id), MOVEMENT_KIND.late_payment, order.id, -quantity, 0, quantity, null);
    }
    // A paid order counts toward max_per_customer with all its lines (the usage read counts them so),
    // also when a partial capture sold fewer.
    for (const [id, quantity] of quantitiesBySku(order.lines)) this.addUsage(order.customer_id, id, quantity);
    this.markPaid(order, command.payment_id, true, totals);
    return accept(orderView(order));
  }

  cancel(command: CancelCommand): Decision<OrderView> {
    const order = this.orders.get(command.order_id);
    if (!order) return refuse(orderNotFound(command.order_id));
    if (order.status === ORDER_STATUS.pending_payment && isPastDeadline(order, this.now_ms)) {
      this.expire(order.id);
    }
    switch (order.status) {
      case ORDER_STATUS.cancelled:
        return accept(orderView(order));
      case ORDER_STATUS.paid:
        return refuse(
          new StockholdError('order_paid', 'a paid order cannot be cancelled', { order_id: order.id }),
        );
      case ORDER_STATUS.expired:
        return refuse(
          new StockholdError('order_expired', 'the order already expired', { order_id: order.id }),
        );
      case ORDER_STATUS.pending_payment:
        this.release(order, MOVEMENT_KIND.cancel_release);
        order.status = ORDER_STATUS.cancelled;
        order.closed_at_ms = this.now_ms;
        this.recorded.orderChanged(order.id);
        this.emitOrder('order.cancelled', order);
        return accept(orderView(order));
    }
  }

  /**
   * Moves a held order's deadline later by `seconds`, within both caps: at most extensions_max
   * extensions, never past created_at + hold_seconds_total_max. No ledger entry: no unit moves; the
   * order's extensions count and the order.extended event are the record.
   */
  extend(command: ExtendCommand): Decision<OrderView> {
    const held = this.heldOrder(command.order_id);
    if (!held.ok) return held;
    const order = held.value;
    const extensions = order.extensions ?? 0;
    const latest_expires_at_ms = order.created_at_ms + command.hold_seconds_total_max * 1000;
    const expires_at_ms = order.expires_at_ms + command.seconds * 1000;
    if (extensions >= command.extensions_max || expires_at_ms > latest_expires_at_ms) {
      const latest_expires_at = new Date(latest_expires_at_ms).toISOString();
      return refuse(
        new StockholdError(
          'extension_limit',
          extensions >= command.extensions_max
            ? `the order was extended ${extensions} times, the most allowed`
            : `the deadline may not pass ${latest_expires_at}`,
          { order_id: order.id, extensions, extensions_max: command.extensions_max, latest_expires_at },
        ),
      );
    }
    this.reschedule(order.id, expires_at_ms);
    order.extensions = extensions + 1;
    this.emitOrder('order.extended', order, { seconds: command.seconds, reason: command.reason });
    return accept(orderView(order));
  }

  /**
   * Replaces a held order's lines: increases are taken from available all or none, decreases go
   * back; max_per_customer applies to the new totals (the customer's usage without this order's old
   * lines). The deadline stays.
   */
  changeOrder(command: ChangeOrderCommand): Decision<OrderView> {
    const held = this.heldOrder(command.order_id);
    if (!held.ok) return held;
    const order = held.value;
    const changes = order.changes ?? 0;
    if (changes >= LIMITS.order_changes_max) {
      return refuse(
        new StockholdError('limit_exceeded', `the order was changed ${changes} times, the most allowed`, {
          order_id: order.id,
          changes,
          changes_max: LIMITS.order_changes_max,
        }),
      );
    }
    const totals = quantitiesBySku(command.lines);
    const missing = [...totals.keys()].filter((id) => !this.skus.has(id));
    if (missing.length > 0) return refuse(skuNotFound(missing));
    const before = quantitiesBySku(order.lines);
    const over_limit = this.overLimit(order.customer_id, totals, before);
    if (over_limit.length > 0) {
      return refuse(
        new StockholdError('limit_exceeded', 'the order exceeds the per-customer limit of a sku', {
          lines: over_limit,
        }),
      );
    }
    const deltas = new Map<string, number>();
    for (const id of new Set([...before.keys(), ...totals.keys()])) {
      const delta = (totals.get(id) ?? 0) - (before.get(id) ?? 0);
      if (delta !== 0) deltas.set(id, delta);
    }
    const increases = new Map([...deltas].filter(([, delta]) => delta > 0));
    // An archived SKU takes no new holds: a change may keep or lower its units, never add any.
    const archived = this.archivedRefusal(increases.keys());
    if (archived) return refuse(archived);
    // A live drop's SKU may grow only in the order that used the customer's admission, within the
    // drop's limit on the new totals.
    if ([...increases.keys()].some((id) => this.liveDropOf(id))) {
      const gate = this.dropRefusal(order.customer_id, totals, { token: null, order_id: order.id });
      if (gate.error) return refuse(gate.error);
    }
    const short = this.shortLines(increases);
    if (short.length > 0) {
      return refuse(
        new StockholdError('insufficient_stock', 'not enough stock for every increase', { lines: short }),
      );
    }
    for (const [id, delta] of deltas) {
      const kind = delta > 0 ? MOVEMENT_KIND.change_hold : MOVEMENT_KIND.change_release;
      this.move(this.requireSku(id), kind, order.id, -delta, delta, 0, null);
      this.addUsage(order.customer_id, id, delta);
    }
    order.lines = command.lines.map((line) => ({ sku: line.sku, quantity: line.quantity }));
    order.changes = changes + 1;
    this.recorded.linesReplaced(order.id);
    this.recorded.holdsReplaced(order.id, holdsOf(order, totals));
    // Every SKU that moved, a removed one included, so a follower of the events sees its buckets.
    this.emitOrder('order.changed', order, {}, new Set([...totals.keys(), ...deltas.keys()]));
    return accept(orderView(order));
  }

  /**
   * Gives back units of a paid order, at most what it sold and has not returned per SKU: restocked
   * (sold -> available) or written off (sold goes down and the units leave the stock).
   */
  returnUnits(command: ReturnCommand): Decision<OrderView> {
    const order = this.orders.get(command.order_id);
    if (!order) return refuse(orderNotFound(command.order_id));
    if (order.status !== ORDER_STATUS.paid) {
      return refuse(
        new StockholdError('order_not_paid', `only a paid order takes returns; this one is ${order.status}`, {
          order_id: order.id,
          status: order.status,
        }),
      );
    }
    const returns = order.returns ?? [];
    if (returns.length >= LIMITS.order_returns_max) {
      return refuse(
        new StockholdError('limit_exceeded', `the order has ${returns.length} returns, the most allowed`, {
          order_id: order.id,
          returns: returns.length,
          returns_max: LIMITS.order_returns_max,
        }),
      );
    }
    const sold = quantitiesBySku(order.sold_lines ?? order.lines);
    const returned = quantitiesBySku(returns.flatMap((record) => record.lines));
    const totals = quantitiesBySku(command.lines);
    const over = [...totals]
      .map(([id, requested]) => ({
        sku: id,
        requested,
        sold: sold.get(id) ?? 0,
        returned: returned.get(id) ?? 0,
      }))
      .filter((line) => line.requested > line.sold - line.returned);
    if (over.length > 0) {
      return refuse(
        new StockholdError('return_exceeds_sold', 'a line returns more than was sold and not yet returned', {
          order_id: order.id,
          lines: over,
        }),
      );
    }
    for (const [id, quantity] of totals) {
      const sku = this.requireSku(id);
      if (command.restock) {
        this.move(sku, MOVEMENT_KIND.return_restock, order.id, quantity, 0, -quantity, command.reason);
      } else {
        this.move(sku, MOVEMENT_KIND.return_writeoff, order.id, 0, 0, -quantity, command.reason);
      }
    }
    const record = {
      at_ms: this.now_ms,
      lines: command.lines.map((line) => ({ sku: line.sku, quantity: line.quantity })),
      restock: command.restock,
      reason: command.reason,
    };
    order.returns = [...returns, record];
    this.recorded.returnRecorded(order.id, returns.length, record);
    this.emitOrder('order.returned', order, { return: returnView(record) });
    return accept(orderView(order));
  }

  /**
   * A pending order within its deadline, or the refusal its state calls for. A lapsed hold nobody
   * swept yet is expired here, in this transaction, as pay and cancel do.
   */
  private heldOrder(order_id: string): Decision<OrderState> {
    const order = this.orders.get(order_id);
    if (!order) return refuse(orderNotFound(order_id));
    if (order.status === ORDER_STATUS.pending_payment && isPastDeadline(order, this.now_ms)) {
      this.expire(order.id);
    }
    switch (order.status) {
      case ORDER_STATUS.pending_payment:
        return accept(order);
      case ORDER_STATUS.paid:
        return refuse(new StockholdError('order_paid', 'the order is paid', { order_id }));
      case ORDER_STATUS.cancelled:
        return refuse(new StockholdError('order_cancelled', 'the order was cancelled', { order_id }));
      case ORDER_STATUS.expired:
        return refuse(new StockholdError('order_expired', 'the order already expired', { order_id }));
    }
  }

  /** Returns the holds of a pending order whose deadline passed (sweeper and lazy reclaim). */
  expire(order_id: string): void {
    const order = this.orders.get(order_id);
    assert(order !== undefined, `order ${order_id} to expire was loaded`);
    assert(order.status === ORDER_STATUS.pending_payment, `order ${order_id} to expire is pending`);
    assert(isPastDeadline(order, this.now_ms), `order ${order_id} to expire is past its deadline`);
    this.release(order, MOVEMENT_KIND.expiry_release);
    order.status = ORDER_STATUS.expired;
    order.closed_at_ms = this.now_ms;
    this.recorded.orderChanged(order.id);
    this.emitOrder('order.expired', order);
  }

  /**
   * Moves a pending order's deadline to `expires_at_ms`, its holds kept: the primitive a hold
   * extension (issue 23) decides with; `extend` emits the event.
   */
  reschedule(order_id: string, expires_at_ms: number): void {
    const order = this.orders.get(order_id);
    assert(order !== undefined, `order ${order_id} to reschedule was loaded`);
    assert(order.status === ORDER_STATUS.pending_payment, `order ${order_id} to reschedule is pending`);
    assert(!isPastDeadline(order, this.now_ms), `order ${order_id} to reschedule is within its deadline`);
    assert(Number.isSafeInteger(expires_at_ms) && expires_at_ms > this.now_ms, 'the new deadline is ahead');
    order.expires_at_ms = expires_at_ms;
    this.recorded.orderChanged(order.id);
    this.recorded.holdsRescheduled(order.id, expires_at_ms);
  }

  /**
   * Moves a pending order's holds back to available. A cancel (before the deadline) gives the
   * customer's allowance back; an expiry does not need to, since an order past its deadline stopped
   * counting against max_per_customer at the deadline (usage counts pending orders in time only).
   */
  private release(order: OrderState, kind: MovementKind): void {
    for (const [id, quantity] of quantitiesBySku(order.lines)) {
      this.move(this.requireSku(id), kind, order.id, quantity, -quantity, 0, null);
      if (kind === MOVEMENT_KIND.cancel_release) this.addUsage(order.customer_id, id, -quantity);
    }
    this.recorded.holdsReleased(order.id);
  }

  private markPaid(
    order: OrderState,
    payment_id: string,
    late: boolean,
    sold: ReadonlyMap<string, number>,
  ): void {
    order.status = ORDER_STATUS.paid;
    order.sold_lines = linesInOrderOf(order.lines, sold);
    this.recorded.soldLinesPlaced(order.id);
    order.paid_at_ms = this.now_ms;
    order.payment_id = payment_id;
    order.late = late;
    order.closed_at_ms ??= this.now_ms;
    this.recorded.orderChanged(order.id);
    this.emitOrder('order.paid', order);
  }

  private shortLines(totals: Map<string, number>): { sku: string; requested: number; available: number }[] {
    const short = [];
    for (const [id, quantity] of totals) {
      const sku = this.requireSku(id);
      if (sku.available < quantity) short.push({ sku: id, requested: quantity, available: sku.available });
    }
    return short;
  }

  /** The lines that would take the customer past a SKU's max_per_customer, as the error details name them. */
  private overLimit(
    customer_id: string,
    totals: ReadonlyMap<string, number>,
    /** Units the customer's usage counts that the decision gives up (a changed order's old lines). */
    replaced: ReadonlyMap<string, number> = new Map(),
  ) {
    const over_limit = [];
    for (const [id, quantity] of totals) {
      const sku = this.requireSku(id);
      if (sku.max_per_customer === null) continue;
      const key = usageKey(customer_id, id);
      // A SKU created in this transaction has no orders yet.
      if (this.recorded.isNewSku(id) && !this.usage.has(key)) this.usage.set(key, 0);
      const used = this.usage.get(key);
      assert(used !== undefined, `usage of ${id} by the customer was loaded`);
      const already = used - (replaced.get(id) ?? 0);
      if (already + quantity > sku.max_per_customer) {
        over_limit.push({
          sku: id,
          requested: quantity,
          already_ordered: already,
          max_per_customer: sku.max_per_customer,
        });
      }
    }
    return over_limit;
  }

  private addUsage(customer_id: string, sku: string, quantity: number): void {
    const key = usageKey(customer_id, sku);
    const current = this.usage.get(key);
    // Only pairs loaded for a checkout are tracked; others are recomputed from the orders when needed.
    if (current !== undefined) this.usage.set(key, current + quantity);
  }

  private requireSku(id: string): SkuState {
    const sku = this.skus.get(id);
    assert(sku !== undefined, `sku ${id} was loaded`);
    return sku;
  }

  private move(
    sku: SkuState,
    kind: MovementKind,
    order_id: string | null,
    delta_available: number,
    delta_on_hold: number,
    delta_sold: number,
    reason: string | null,
  ): void {
    assert(
      STOCK_CHANGING_KINDS.has(kind) || delta_available + delta_on_hold + delta_sold === 0,
      `${kind} on ${sku.sku} conserves stock`,
    );
    // A SKU's creation is no crossing; its later movements are (also in the same transaction).
    if (kind !== MOVEMENT_KIND.create && !this.available_before.has(sku.sku)) {
      this.available_before.set(sku.sku, sku.available);
    }
    sku.available += delta_available;
    sku.on_hold += delta_on_hold;
    sku.sold += delta_sold;
    assertSkuInvariants(sku);
    sku.version += 1;
    sku.updated_at_ms = this.now_ms;
    this.recorded.skuChanged(sku.sku);
    this.recorded.ledger.push({
      sku: sku.sku,
      seq: sku.version,
      at_ms: this.now_ms,
      kind,
      order_id,
      delta_available,
      delta_on_hold,
      delta_sold,
      available_after: sku.available,
      on_hold_after: sku.on_hold,
      sold_after: sku.sold,
      reason,
    });
  }

  private emit(type: EventType, subject_id: string, data: Record<string, unknown>): void {
    this.recorded.events.push({ type, subject_id, at_ms: this.now_ms, data });
  }

  /** An order event: the order's view and the buckets of its SKUs (`skus` names others, for a change). */
  private emitOrder(
    type: EventType,
    order: OrderState,
    extra: Record<string, unknown> = {},
    sku_ids: Iterable<string> = quantitiesBySku(order.lines).keys(),
  ): void {
    const skus = [...sku_ids].map((id) => {
      const sku = this.requireSku(id);
      return { sku: id, available: sku.available, on_hold: sku.on_hold, sold: sku.sold };
    });
    this.emit(type, order.id, { order: orderView(order), skus, ...extra });
  }
}
