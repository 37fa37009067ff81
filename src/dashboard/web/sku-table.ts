// The SKU table: one row per SKU with a stacked bar of its buckets, hottest first, searchable;
// archived SKUs dimmed and marked (listed only when asked), a low-stock mark at or below the threshold.
// Only the hottest ROWS_SHOWN_MAX that match the search are in the page (a shop may have 100,000
// SKUs; a sale's few hot ones rise to the top as their events arrive). A row's element is created
// the first time it is shown and updated in place; changes are applied once per animation frame.
import type { SkuView } from '../../core/views.ts';
import { byId, element, formatCount } from './dom.ts';

export interface Buckets {
  available: number;
  on_hold: number;
  sold: number;
}

const BUCKET_NAMES = ['available', 'on_hold', 'sold'] as const satisfies readonly (keyof Buckets)[];

/** What a SKU view says about a row beyond its buckets (an event's bucket values leave it as is). */
type RowFields = Pick<SkuView, 'name' | 'archived' | 'low_stock_threshold'>;

/** A row's elements in the page: its <tr>, the name, its marks, and per bucket its number cell and its bar. */
interface RowView {
  node: HTMLTableRowElement;
  name: HTMLElement;
  marks: HTMLElement;
  cells: Record<keyof Buckets, HTMLElement>;
  bars: Record<keyof Buckets, HTMLElement>;
}

interface Row extends Buckets, RowFields {
  sku: string;
  /** Server time of the state shown: older events are ignored (the snapshot already has them). */
  updated_ms: number;
  /** Recent activity, decaying with HEAT_HALF_LIFE_MS. */
  heat: number;
  heat_ms: number;
  /** Null until the row is first shown. */
  view: RowView | null;
}

const HEAT_HALF_LIFE_MS = 30_000;
/** Re-ordering at most this often keeps the rows readable (and the DOM calm) during a sale. */
const RESORT_INTERVAL_MS = 1000;
/** Rows in the page at once: the hottest that match the search. */
const ROWS_SHOWN_MAX = 200;

export class SkuTable {
  private readonly rows = new Map<string, Row>();
  private readonly dirty = new Set<Row>();
  private order: Row[] = [];
  private order_stale = true;
  private last_sort_ms = 0;
  private frame_requested = false;
  private query = '';
  private show_archived = false;
  /** A SKU's detail, shown in a row right under that SKU's row (wherever sorting moves it). */
  private detail: { sku: string; node: HTMLTableRowElement } | null = null;
  private readonly body = byId<HTMLTableSectionElement>('sku-rows');
  private readonly count = byId('sku-count');

  constructor(
    private readonly on_select: (sku: string) => void,
    private readonly on_change: () => void,
  ) {
    const search = byId<HTMLInputElement>('sku-search');
    search.addEventListener('input', () => {
      this.query = search.value.trim().toLowerCase();
      this.layout();
    });
    const show_archived = byId<HTMLInputElement>('sku-show-archived');
    show_archived.addEventListener('change', () => {
      this.show_archived = show_archived.checked;
      this.layout();
    });
    this.body.addEventListener('click', (event) => {
      const row = (event.target as HTMLElement).closest('tr');
      if (row?.dataset.sku) this.on_select(row.dataset.sku);
    });
    // Heat decays even without events, so the order settles after a burst.
    setInterval(() => {
      this.order_stale = true;
      this.schedule();
    }, RESORT_INTERVAL_MS);
  }

  get size(): number {
    return this.rows.size;
  }

  get(sku: string): (Buckets & { sku: string; name: string }) | undefined {
    return this.rows.get(sku);
  }

  totals(): Buckets {
    const total = { available: 0, on_hold: 0, sold: 0 };
    for (const row of this.rows.values()) {
      total.available += row.available;
      total.on_hold += row.on_hold;
      total.sold += row.sold;
    }
    return total;
  }

  /** Shows `content` in a row under `sku`'s row, in place of any other SKU's detail. */
  showDetail(sku: string, content: HTMLElement): void {
    const node = this.detail?.node ?? element('tr', 'detail-row');
    const cell = element('td');
    cell.append(content);
    node.replaceChildren(cell);
    this.detail = { sku, node };
    this.layout();
  }

  hideDetail(): void {
    this.detail?.node.remove();
    this.detail = null;
  }

  /** A SKU read from the API or carried by a sku.* event; `activity` feeds the heat. */
  upsertView(view: SkuView, activity = 0): void {
    this.apply(view.sku, view, Date.parse(view.updated_at), view, activity);
  }

  /** A deleted SKU (sku.deleted) leaves the table. */
  remove(sku: string): void {
    const row = this.rows.get(sku);
    if (!row) return;
    this.rows.delete(sku);
    this.dirty.delete(row);
    if (this.detail?.sku === sku) this.hideDetail();
    this.order = this.order.filter((each) => each !== row);
    row.view?.node.remove();
    this.layout();
    this.on_change();
  }

  /** Bucket values carried by an event at server time `at_ms`; `activity` feeds the heat. */
  applyEvent(sku: string, buckets: Buckets, at_ms: number, activity: number): void {
    this.apply(sku, buckets, at_ms, undefined, activity);
  }

  private apply(
    sku: string,
    buckets: Buckets,
    at_ms: number,
    fields: RowFields | undefined,
    activity: number,
  ) {
    let row = this.rows.get(sku);
    if (!row) {
      row = {
        sku,
        name: fields?.name ?? '',
        archived: fields?.archived ?? false,
        low_stock_threshold: fields?.low_stock_threshold ?? null,
        available: 0,
        on_hold: 0,
        sold: 0,
        updated_ms: -Infinity,
        heat: 0,
        heat_ms: at_ms,
        view: null,
      };
      this.rows.set(sku, row);
      this.order_stale = true;
    }
    if (activity > 0) {
      row.heat = this.heatAt(row, at_ms) + activity;
      row.heat_ms = Math.max(row.heat_ms, at_ms);
      this.order_stale = true;
    }
    // Same-millisecond events belong to one transaction, and arrive in order: apply them.
    if (at_ms >= row.updated_ms) {
      row.available = buckets.available;
      row.on_hold = buckets.on_hold;
      row.sold = buckets.sold;
      row.updated_ms = at_ms;
      if (fields) {
        row.name = fields.name;
        // An archived SKU leaves the page or comes back: the layout decides which rows are shown.
        if (row.archived !== fields.archived) this.order_stale = true;
        row.archived = fields.archived;
        row.low_stock_threshold = fields.low_stock_threshold;
      }
    }
    this.dirty.add(row);
    this.schedule();
  }

  private heatAt(row: Row, now_ms: number): number {
    const elapsed_ms = Math.max(0, now_ms - row.heat_ms);
    return row.heat * 0.5 ** (elapsed_ms / HEAT_HALF_LIFE_MS);
  }

  private schedule(): void {
    if (this.frame_requested) return;
    this.frame_requested = true;
    requestAnimationFrame(() => {
      this.frame_requested = false;
      this.render();
    });
  }

  private render(): void {
    // Rows not in the page keep their values; they are filled when shown.
    for (const row of this.dirty) if (row.view) this.fill(row, row.view);
    this.dirty.clear();
    const now_ms = Date.now();
    const added = this.order.length !== this.rows.size;
    if (added || (this.order_stale && now_ms - this.last_sort_ms >= RESORT_INTERVAL_MS)) {
      if (this.resort(now_ms) || added) this.layout();
    }
    this.on_change();
  }

  /** Orders every row, hottest first; returns whether the order changed. */
  private resort(now_ms: number): boolean {
    this.last_sort_ms = now_ms;
    this.order_stale = false;
    const heated = [...this.rows.values()].map((row) => ({ row, heat: this.heatAt(row, now_ms) }));
    const next = heated
      .sort(
        ({ row: a, heat: heat_a }, { row: b, heat: heat_b }) =>
          heat_b - heat_a ||
          b.on_hold + b.sold - (a.on_hold + a.sold) ||
          (a.sku < b.sku ? -1 : a.sku > b.sku ? 1 : 0),
      )
      .map(({ row }) => row);
    const same = next.length === this.order.length && next.every((row, index) => row === this.order[index]);
    this.order = next;
    return !same;
  }

  private matches(row: Row): boolean {
    if (row.archived && !this.show_archived) return false;
    return (
      this.query === '' ||
      row.sku.toLowerCase().includes(this.query) ||
      row.name.toLowerCase().includes(this.query)
    );
  }

  /** Puts the hottest ROWS_SHOWN_MAX matching rows in the page, in order, and the counts above. */
  private layout(): void {
    let matching = 0;
    const shown: Row[] = [];
    for (const row of this.order) {
      if (!this.matches(row)) continue;
      matching += 1;
      if (shown.length < ROWS_SHOWN_MAX) shown.push(row);
    }
    // Move only the rows that are out of place: after a burst most of the table keeps its order.
    let cursor = this.body.firstElementChild;
    for (const row of shown) {
      let view = row.view;
      if (!view) {
        view = this.createView(row);
        row.view = view;
        this.fill(row, view);
      }
      const nodes = [view.node];
      if (this.detail?.sku === row.sku) nodes.push(this.detail.node);
      for (const node of nodes) {
        if (node === cursor) cursor = node.nextElementSibling;
        else this.body.insertBefore(node, cursor);
      }
    }
    while (cursor) {
      const next = cursor.nextElementSibling;
      cursor.remove();
      cursor = next;
    }
    const total = this.rows.size;
    const counts =
      matching === total ? formatCount(total) : `${formatCount(matching)} of ${formatCount(total)}`;
    const hottest = shown.length < matching ? `, the hottest ${formatCount(shown.length)} shown` : '';
    this.count.textContent = `(${counts}${hottest})`;
  }

  private createView(row: Row): RowView {
    const node = element('tr');
    node.dataset.sku = row.sku;
    const name_cell = element('td', 'sku-name');
    const name = element('span', 'name muted');
    const marks = element('span', 'marks');
    name_cell.append(element('span', 'sku-id', row.sku), marks, name);
    const bar = element('div', 'bar');
    const bars = {
      available: element('span', 'available'),
      on_hold: element('span', 'on_hold'),
      sold: element('span', 'sold'),
    };
    bar.append(bars.available, bars.on_hold, bars.sold);
    const bar_cell = element('td', 'bar-col');
    bar_cell.append(bar);
    const cells = {
      available: element('td', 'num available'),
      on_hold: element('td', 'num on_hold'),
      sold: element('td', 'num sold'),
    };
    node.append(name_cell, bar_cell, cells.available, cells.on_hold, cells.sold);
    return { node, name, marks, cells, bars };
  }

  private fill(row: Row, view: RowView): void {
    const total = row.available + row.on_hold + row.sold;
    for (const bucket of BUCKET_NAMES) {
      view.cells[bucket].textContent = formatCount(row[bucket]);
      // Rounded to 0.1 %: a change too small to see costs no style recalculation.
      const width = total === 0 ? '0%' : `${Math.round((row[bucket] / total) * 1000) / 10}%`;
      if (view.bars[bucket].style.width !== width) view.bars[bucket].style.width = width;
    }
    // The API names a SKU after its id when no name is given: show it once.
    const shown_name = row.name === row.sku ? '' : row.name;
    if (view.name.textContent !== shown_name) view.name.textContent = shown_name;
    view.node.title = `${row.sku}: ${row.available} available, ${row.on_hold} on hold, ${row.sold} sold`;
    this.fillMarks(row, view);
  }

  /** The archived and low-stock marks (classes on the row, badges beside the id); touched only on change. */
  private fillMarks(row: Row, view: RowView): void {
    const low_stock = row.low_stock_threshold !== null && row.available <= row.low_stock_threshold;
    const key = `${row.archived}/${low_stock}`;
    if (view.marks.dataset.key === key) return;
    view.marks.dataset.key = key;
    view.node.classList.toggle('archived', row.archived);
    view.node.classList.toggle('low-stock', low_stock);
    const badges: HTMLElement[] = [];
    if (row.archived) badges.push(element('span', 'mark mark-archived', 'archived'));
    if (low_stock) {
      const badge = element('span', 'mark mark-low-stock', 'low stock');
      badge.title = `available ${row.available} is at or below the threshold ${row.low_stock_threshold}`;
      badges.push(badge);
    }
    view.marks.replaceChildren(...badges);
  }
}
