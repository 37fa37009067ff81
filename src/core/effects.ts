// What a transaction's decisions did to the stored rows, as plain data the store writes without
// knowing which command caused it. Each kind is a net change of rows: within one transaction an
// order created and then closed is one created row with no holds, a SKU moved twice is one update.
import type { DropState, TicketState } from './drops.ts';
import { assert } from './errors.ts';
import type { DomainEvent, LedgerEntry, OrderLine, OrderReturn, OrderState, SkuState } from './types.ts';

/** One SKU a pending order holds, until its deadline. */
export interface Hold {
  order_id: string;
  sku: string;
  quantity: number;
  expires_at_ms: number;
}

export interface Effects {
  /** New SKUs, as they are at the end of the transaction. */
  readonly skus_created: readonly SkuState[];
  /** Existing SKUs whose buckets (and so version and updated_at) changed: their state at the end. */
  readonly skus_changed: readonly SkuState[];
  /** Existing SKUs whose fields changed too (a PATCH): their whole state at the end; not in skus_changed. */
  readonly skus_updated: readonly SkuState[];
  /** SKUs removed with their ledger (a delete); written before every other row of the transaction. */
  readonly skus_deleted: readonly string[];
  /** New orders with their lines, as they are at the end of the transaction. */
  readonly orders_created: readonly OrderState[];
  /** Existing orders whose fields changed (status, deadline, payment, closed_at): their state at the end. */
  readonly orders_changed: readonly OrderState[];
  /** Existing orders whose lines are now exactly these (a change of a held order). */
  readonly order_lines_replaced: readonly { order_id: string; lines: readonly OrderLine[] }[];
  /** New hold rows. */
  readonly holds_placed: readonly Hold[];
  /** Orders whose every hold is gone (paid, cancelled, expired). */
  readonly holds_released: readonly string[];
  /** Orders whose holds are now exactly these (a release of some SKUs, a change of lines). */
  readonly holds_replaced: readonly { order_id: string; holds: readonly Hold[] }[];
  /** Orders whose holds keep their quantities and get a new deadline (an extension). */
  readonly holds_rescheduled: readonly { order_id: string; expires_at_ms: number }[];
  /** Units sold per SKU by the orders paid in this transaction (a partial capture sells part). */
  readonly sold_lines_placed: readonly { order_id: string; lines: readonly OrderLine[] }[];
  /** Returns of paid orders, each with its number within its order (0 for the first). */
  readonly returns_recorded: readonly { order_id: string; return_no: number; record: OrderReturn }[];
  /** New drops, as they are at the end of the transaction. */
  readonly drops_created: readonly DropState[];
  /** Tickets a checkout used (status, used time, order): their state at the end. */
  readonly tickets_used: readonly TicketState[];
  /** Ledger entries, in the order the movements happened. */
  readonly ledger: readonly LedgerEntry[];
  /** Events for the outbox, in the order they happened. */
  readonly events: readonly DomainEvent[];
}

/** The holds of an order that existed before this transaction, as this transaction left them. */
type ExistingHolds =
  | { change: 'released' }
  | { change: 'replaced'; holds: Hold[] }
  | { change: 'rescheduled'; expires_at_ms: number };

/**
 * Collects the row changes of one transaction's decisions, netted per row, and builds the Effects
 * from the final states the Workspace holds. Pure.
 */
export class EffectsRecorder {
  private readonly skus_created = new Set<string>();
  private readonly skus_changed = new Set<string>();
  private readonly skus_updated = new Set<string>();
  private readonly skus_deleted = new Set<string>();
  private readonly orders_created = new Set<string>();
  private readonly orders_changed = new Set<string>();
  private readonly lines_replaced = new Set<string>();
  /** Holds of orders created in this transaction: inserted as they are at the end. */
  private readonly new_holds = new Map<string, Hold[]>();
  private readonly existing_holds = new Map<string, ExistingHolds>();
  private readonly sold_lines = new Set<string>();
  private readonly returns: { order_id: string; return_no: number; record: OrderReturn }[] = [];
  private readonly drops_created: DropState[] = [];
  private readonly tickets_used: TicketState[] = [];
  readonly ledger: LedgerEntry[] = [];
  readonly events: DomainEvent[] = [];

  isNewSku(sku: string): boolean {
    return this.skus_created.has(sku);
  }

  skuCreated(sku: string): void {
    this.skus_created.add(sku);
  }

  skuChanged(sku: string): void {
    if (!this.skus_created.has(sku)) this.skus_changed.add(sku);
  }

  /** The SKU's fields (name, limits, archived) changed: its whole row is written. */
  skuUpdated(sku: string): void {
    if (!this.skus_created.has(sku)) this.skus_updated.add(sku);
  }

  /**
   * The SKU and its ledger are gone. Only a SKU without movements is deleted, so its entries of this
   * transaction, if any, are its creation's: they go too, as does a creation in this transaction.
   */
  skuDeleted(sku: string): void {
    this.skus_created.delete(sku);
    this.skus_changed.delete(sku);
    this.skus_updated.delete(sku);
    this.skus_deleted.add(sku);
    for (let index = this.ledger.length - 1; index >= 0; index--) {
      if (this.ledger[index]?.sku === sku) this.ledger.splice(index, 1);
    }
  }

  orderCreated(order_id: string): void {
    assert(!this.orders_created.has(order_id), `order ${order_id} is created once`);
    this.orders_created.add(order_id);
    this.new_holds.set(order_id, []);
  }

  orderChanged(order_id: string): void {
    if (!this.orders_created.has(order_id)) this.orders_changed.add(order_id);
  }

  linesReplaced(order_id: string): void {
    this.orderChanged(order_id);
    if (!this.orders_created.has(order_id)) this.lines_replaced.add(order_id);
  }

  /** The order was paid: its sold lines are written as it holds them at the end. */
  soldLinesPlaced(order_id: string): void {
    this.orderChanged(order_id);
    assert(!this.sold_lines.has(order_id), `order ${order_id} is paid once`);
    this.sold_lines.add(order_id);
  }

  dropCreated(drop: DropState): void {
    this.drops_created.push(drop);
  }

  /** A ticket a checkout used; the object is the workspace's, written as it is at the end. */
  ticketUsed(ticket: TicketState): void {
    assert(!this.tickets_used.includes(ticket), `ticket ${ticket.id} is used once`);
    this.tickets_used.push(ticket);
  }

  returnRecorded(order_id: string, return_no: number, record: OrderReturn): void {
    this.returns.push({ order_id, return_no, record });
  }

  /** Holds of an order created in this transaction. */
  holdsPlaced(holds: readonly Hold[]): void {
    for (const hold of holds) {
      const placed = this.new_holds.get(hold.order_id);
      assert(placed !== undefined, `holds are placed for an order created in this transaction`);
      assert(
        !placed.some((other) => other.sku === hold.sku),
        `order ${hold.order_id} holds ${hold.sku} once`,
      );
      placed.push({ ...hold });
    }
  }

  /** Every hold of the order is gone. */
  holdsReleased(order_id: string): void {
    const placed = this.new_holds.get(order_id);
    if (placed) placed.length = 0;
    else this.existing_holds.set(order_id, { change: 'released' });
  }

  /** The order's holds are now exactly `holds` (all of this order). */
  holdsReplaced(order_id: string, holds: readonly Hold[]): void {
    assert(
      holds.every((hold) => hold.order_id === order_id),
      `replaced holds belong to order ${order_id}`,
    );
    const copies = holds.map((hold) => ({ ...hold }));
    if (this.new_holds.has(order_id)) this.new_holds.set(order_id, copies);
    else this.existing_holds.set(order_id, { change: 'replaced', holds: copies });
  }

  /** The order's holds keep their quantities and fall due at `expires_at_ms`. */
  holdsRescheduled(order_id: string, expires_at_ms: number): void {
    const placed = this.new_holds.get(order_id);
    if (placed) {
      for (const hold of placed) hold.expires_at_ms = expires_at_ms;
      return;
    }
    const existing = this.existing_holds.get(order_id);
    assert(existing?.change !== 'released', `order ${order_id} still has holds to reschedule`);
    if (existing?.change === 'replaced') {
      for (const hold of existing.holds) hold.expires_at_ms = expires_at_ms;
    } else {
      this.existing_holds.set(order_id, { change: 'rescheduled', expires_at_ms });
    }
  }

  /**
   * The effects, with each SKU and order as `skus` and `orders` hold them now; `events_after` follow
   * the decisions' events (the stock events of the whole transaction).
   */
  effects(
    skus: ReadonlyMap<string, SkuState>,
    orders: ReadonlyMap<string, OrderState>,
    events_after: readonly DomainEvent[] = [],
  ): Effects {
    const sku = (id: string) => {
      const state = skus.get(id);
      assert(state !== undefined, `changed sku ${id} is in the workspace`);
      return state;
    };
    const order = (id: string) => {
      const state = orders.get(id);
      assert(state !== undefined, `changed order ${id} is in the workspace`);
      return state;
    };
    const existing = [...this.existing_holds];
    return {
      skus_created: [...this.skus_created].map(sku),
      skus_changed: [...this.skus_changed].filter((id) => !this.skus_updated.has(id)).map(sku),
      skus_updated: [...this.skus_updated].map(sku),
      skus_deleted: [...this.skus_deleted],
      orders_created: [...this.orders_created].map(order),
      orders_changed: [...this.orders_changed].map(order),
      order_lines_replaced: [...this.lines_replaced].map((id) => ({ order_id: id, lines: order(id).lines })),
      holds_placed: [...this.new_holds.values()].flat(),
      holds_released: existing.flatMap(([id, holds]) => (holds.change === 'released' ? [id] : [])),
      holds_replaced: existing.flatMap(([order_id, holds]) =>
        holds.change === 'replaced' ? [{ order_id, holds: holds.holds }] : [],
      ),
      holds_rescheduled: existing.flatMap(([order_id, holds]) =>
        holds.change === 'rescheduled' ? [{ order_id, expires_at_ms: holds.expires_at_ms }] : [],
      ),
      sold_lines_placed: [...this.sold_lines].map((id) => ({
        order_id: id,
        lines: order(id).sold_lines ?? [],
      })),
      returns_recorded: this.returns,
      drops_created: this.drops_created.map((drop) => ({ ...drop, skus: [...drop.skus] })),
      tickets_used: this.tickets_used.map((ticket) => ({ ...ticket })),
      ledger: this.ledger,
      events: [...this.events, ...events_after],
    };
  }
}
