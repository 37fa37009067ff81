// Orders on screen: the most recent ones with a deadline countdown, and the pending holds (to show
// those expiring in the next minute). Both follow the event stream after one initial read.
import type { OrderView } from '../../core/views.ts';
import { byId, element, formatCount, formatCountdown, shortId } from './dom.ts';

const RECENT_ORDERS_MAX = 40;
/** Pending orders tracked for the expiry panel; past this the panel says it is partial. */
export const PENDING_TRACKED_MAX = 20_000;
const EXPIRING_WINDOW_MS = 60_000;
const EXPIRING_SHOWN_MAX = 12;

interface Pending {
  id: string;
  expires_ms: number;
  units: number;
}

const units = (order: OrderView): number => order.lines.reduce((sum, line) => sum + line.quantity, 0);

export class OrdersView {
  private readonly recent = new Map<string, OrderView>();
  private readonly pending = new Map<string, Pending>();
  private pending_partial = false;
  private dirty = true;
  private frame_requested = false;
  private readonly recent_body = byId<HTMLTableSectionElement>('orders');
  private readonly expiring_list = byId<HTMLOListElement>('expiring');
  private readonly expiring_summary = byId('expiring-summary');
  private readonly expiring_empty = byId('expiring-empty');
  /** Pending orders as the expiry panel last showed them: the header shows this same figure. */
  private shown_pending = 0;

  constructor(private readonly on_select: (order_id: string) => void) {
    const select = (event: Event) => {
      const target = (event.target as HTMLElement).closest<HTMLElement>('[data-order-id]');
      if (target?.dataset.orderId) this.on_select(target.dataset.orderId);
    };
    this.recent_body.addEventListener('click', select);
    this.expiring_list.addEventListener('click', select);
  }

  /**
   * The pending count of the last render(), not the live one: the header reads it, so the header and
   * the expiry panel show one snapshot even while events arrive between two ticks.
   */
  get pending_count(): number {
    return this.shown_pending;
  }

  loadRecent(orders: OrderView[]): void {
    for (const order of orders) this.recent.set(order.id, order);
    this.trimRecent();
    this.changed();
  }

  loadPending(orders: OrderView[], complete: boolean): void {
    for (const order of orders) this.track(order);
    if (!complete) this.pending_partial = true;
    this.changed();
  }

  /** An order event: the order's state after the change. */
  apply(order: OrderView): void {
    const known = this.recent.get(order.id);
    if (known || this.recent.size < RECENT_ORDERS_MAX || order.created_at >= this.oldestRecent()) {
      this.recent.set(order.id, order);
      this.trimRecent();
    }
    this.track(order);
    this.changed();
  }

  private changed(): void {
    this.dirty = true;
    if (this.frame_requested) return;
    this.frame_requested = true;
    requestAnimationFrame(() => {
      this.frame_requested = false;
      this.renderRecent(Date.now());
    });
  }

  private track(order: OrderView): void {
    if (order.status !== 'pending_payment') {
      this.pending.delete(order.id);
      return;
    }
    if (!this.pending.has(order.id) && this.pending.size >= PENDING_TRACKED_MAX) {
      this.pending_partial = true;
      return;
    }
    this.pending.set(order.id, {
      id: order.id,
      expires_ms: Date.parse(order.expires_at),
      units: units(order),
    });
  }

  private oldestRecent(): string {
    let oldest = '';
    for (const order of this.recent.values())
      if (oldest === '' || order.created_at < oldest) oldest = order.created_at;
    return oldest;
  }

  private trimRecent(): void {
    if (this.recent.size <= RECENT_ORDERS_MAX) return;
    const newest = [...this.recent.values()]
      .sort((a, b) => (a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0))
      .slice(0, RECENT_ORDERS_MAX);
    this.recent.clear();
    for (const order of newest) this.recent.set(order.id, order);
  }

  /**
   * Countdowns tick every second (the caller's tick); the recent list is rebuilt only when orders
   * changed: on the next frame (the one that draws the SKU rows the same events moved), or on the tick
   * where frames are paused (a hidden tab). The expiring panel (up to PENDING_TRACKED_MAX holds) stays
   * on the tick.
   */
  render(): void {
    const now_ms = Date.now();
    this.renderExpiring(now_ms);
    this.renderRecent(now_ms);
  }

  /** Rebuilds the recent orders' rows if they changed, and updates their countdowns. */
  private renderRecent(now_ms: number): void {
    if (this.dirty) {
      this.dirty = false;
      this.buildRecentRows();
    }
    for (const cell of this.recent_body.querySelectorAll<HTMLElement>('[data-deadline-ms]')) {
      cell.textContent = formatCountdown(Number(cell.dataset.deadlineMs) - now_ms);
    }
  }

  private buildRecentRows(): void {
    const orders = [...this.recent.values()].sort((a, b) =>
      a.created_at < b.created_at ? 1 : a.created_at > b.created_at ? -1 : 0,
    );
    const fragment = document.createDocumentFragment();
    for (const order of orders) {
      const row = element('tr');
      row.dataset.orderId = order.id;
      row.append(
        element('td', 'mono', shortId(order.id)),
        element('td', `state state-${order.status}`, order.late ? `${order.status} (late)` : order.status),
        this.linesCell(order),
      );
      const deadline = element('td', 'num');
      if (order.status === 'pending_payment')
        deadline.dataset.deadlineMs = String(Date.parse(order.expires_at));
      else deadline.textContent = '—';
      row.append(deadline);
      fragment.append(row);
    }
    this.recent_body.replaceChildren(fragment);
  }

  /** The lines, after a mark for each extension and return the order had. */
  private linesCell(order: OrderView): HTMLElement {
    const cell = element('td', 'lines');
    if (order.extensions > 0) {
      const mark = element('span', 'mark mark-extended', `+${order.extensions} ext`);
      mark.title = `deadline extended ${order.extensions} ${order.extensions === 1 ? 'time' : 'times'}`;
      cell.append(mark);
    }
    if (order.returns.length > 0) {
      const returned = order.returns.reduce(
        (sum, each) => sum + each.lines.reduce((units, line) => units + line.quantity, 0),
        0,
      );
      cell.append(element('span', 'mark mark-returned', `${returned} returned`));
    }
    cell.append(order.lines.map((line) => `${line.sku}×${line.quantity}`).join(', '));
    return cell;
  }

  private renderExpiring(now_ms: number): void {
    const soon: Pending[] = [];
    let soon_units = 0;
    let overdue = 0;
    for (const hold of this.pending.values()) {
      if (hold.expires_ms > now_ms + EXPIRING_WINDOW_MS) continue;
      if (hold.expires_ms <= now_ms) overdue += 1;
      soon.push(hold);
      soon_units += hold.units;
    }
    soon.sort((a, b) => a.expires_ms - b.expires_ms);
    const partial = this.pending_partial ? ', partial' : '';
    this.shown_pending = this.pending.size;
    this.expiring_summary.textContent = `(${formatCount(soon.length)} orders, ${formatCount(soon_units)} units; ${formatCount(this.shown_pending)} pending${overdue > 0 ? `; ${overdue} past deadline, awaiting the sweeper` : ''}${partial})`;
    const fragment = document.createDocumentFragment();
    for (const hold of soon.slice(0, EXPIRING_SHOWN_MAX)) {
      const item = element('li');
      item.dataset.orderId = hold.id;
      item.append(
        element('span', 'mono', shortId(hold.id)),
        element('span', 'muted', ` ${hold.units} ${hold.units === 1 ? 'unit' : 'units'} `),
        element('span', 'countdown', formatCountdown(hold.expires_ms - now_ms)),
      );
      fragment.append(item);
    }
    // An empty-state line beside the list, not an item of it (a numbered list showed "1. none").
    this.expiring_empty.hidden = soon.length > 0;
    this.expiring_list.hidden = soon.length === 0;
    this.expiring_list.replaceChildren(fragment);
  }
}
