// The dashboard: a snapshot of SKUs and orders from the API, then the live event stream keeps it current.
import './style.css';
import type { LedgerEntryView, OrderView, SkuView } from '../../core/views.ts';
import { ApiError, api, listAll } from './api.ts';
import { byId, element, formatCount, shortId } from './dom.ts';
import { DropsPanel } from './drops-panel.ts';
import { describe, handleForm } from './forms.ts';
import { installKeyDialog } from './key-dialog.ts';
import { OrdersView } from './orders.ts';
import { RateChart } from './rate-chart.ts';
import { type Buckets, SkuTable } from './sku-table.ts';
import { type ConnectionStatus, followEvents, type SseMessage } from './sse.ts';

/** One event of GET /v1/events (src/http/routes/events.ts). */
interface StreamEvent {
  id: number;
  type: string;
  subject_id: string;
  at: string;
  data: { sku?: SkuView; order?: OrderView; skus?: (Buckets & { sku: string })[] };
}

const SKU_PAGE_SIZE = 500;
const SKU_PAGES_MAX = 200;
const PENDING_PAGES_MAX = 10;
/** Movements a SKU's detail shows: its latest. */
const SKU_LEDGER_ROWS = 30;
const STATS_INTERVAL_MS = 1000;

const page_error = byId('page-error');
function showError(message: string): void {
  page_error.textContent = message;
  page_error.hidden = false;
}
window.addEventListener('error', (event) => {
  // Chromium reports a resize that settles over two frames (the rate chart resizing itself) as
  // "ResizeObserver loop ..."; it is a notice, not a failure of the page.
  if (event.message.startsWith('ResizeObserver loop')) return;
  showError(`page error: ${event.message}`);
});
window.addEventListener('unhandledrejection', (event) =>
  showError(`page error: ${(event.reason as Error)?.message ?? String(event.reason)}`),
);

// ---- API key -------------------------------------------------------------------------------
installKeyDialog();

// ---- state ---------------------------------------------------------------------------------
const totals = byId('totals');
const orders = new OrdersView((id) => void showOrder(id));
const chart = new RateChart();
const table = new SkuTable(
  (sku) => void showSku(sku),
  () => renderTotals(),
);
let events_received = 0;
// One tick draws the expiry panel and then the header from the same pending count; pending orders also
// change without a SKU row changing (the sweeper's reading of the clock).
setInterval(() => {
  orders.render();
  renderTotals();
}, 1000);

/** The header figures, built once and then only their text changes (this runs every frame). */
const total_cells = new Map<string, HTMLElement>();
function renderTotals(): void {
  const sum = table.totals();
  const items: [string, string, number][] = [
    ['skus', 'SKUs', table.size],
    ['available', 'available', sum.available],
    ['on_hold', 'on hold', sum.on_hold],
    ['sold', 'sold', sum.sold],
    ['pending', 'pending orders', orders.pending_count],
  ];
  for (const [name, label, value] of items) {
    let cell = total_cells.get(name);
    if (!cell) {
      const item = element('div', `total total-${name}`);
      cell = element('span', 'value');
      item.append(cell, element('span', 'label', label));
      totals.append(item);
      total_cells.set(name, cell);
    }
    const text = formatCount(value);
    if (cell.textContent !== text) cell.textContent = text;
  }
}

const SERIES_OF: Record<string, 'checkouts' | 'payments' | 'expiries' | 'cancels'> = {
  'order.held': 'checkouts',
  'order.paid': 'payments',
  'order.expired': 'expiries',
  'order.cancelled': 'cancels',
};

function applyEvent(event: StreamEvent): void {
  events_received += 1;
  const at_ms = Date.parse(event.at);
  const { sku, order, skus } = event.data;
  if (event.type === 'sku.deleted') table.remove(event.subject_id);
  else if (sku) table.upsertView(sku, 1);
  if (order) {
    orders.apply(order);
    const series = SERIES_OF[event.type];
    if (series) chart.count(series, at_ms);
    const quantity = new Map(order.lines.map((line) => [line.sku, line.quantity]));
    for (const state of skus ?? []) table.applyEvent(state.sku, state, at_ms, quantity.get(state.sku) ?? 1);
  }
}

// Events that arrive while the snapshot loads wait here, then apply in order (stale ones are ignored
// per SKU by their time), so nothing that happens during the load is lost.
let buffered: StreamEvent[] | null = [];
function onMessage(message: SseMessage): void {
  if (!message.event.includes('.')) return;
  const event = JSON.parse(message.data) as StreamEvent;
  if (buffered) buffered.push(event);
  else applyEvent(event);
}

const connection = byId('connection');
function onStatus(status: ConnectionStatus, detail: string): void {
  connection.dataset.status = status;
  connection.className = `status status-${status}`;
  connection.textContent = detail;
  connection.title = `events received: ${events_received}`;
}

// ---- detail panel --------------------------------------------------------------------------
const detail_panel = byId('detail-panel');
const detail = byId('detail');
// An order's detail opens in the side column under the orders; a SKU's under its own row.
const detail_home = byId('detail-home');
byId('detail-close').addEventListener('click', () => {
  detail_panel.hidden = true;
  table.hideDetail();
});
function openDetail(title: string, sku: string | null): void {
  if (sku === null) {
    table.hideDetail();
    detail_home.after(detail_panel);
  } else table.showDetail(sku, detail_panel);
  detail_panel.hidden = false;
  byId('detail-title').textContent = title;
  detail.replaceChildren(element('p', 'muted', 'loading…'));
}

const linesText = (lines: readonly { sku: string; quantity: number }[]): string =>
  lines.length === 0 ? '—' : lines.map((line) => `${line.sku} × ${line.quantity}`).join(', ');

/** An order's returns, oldest first: when, what, restocked or written off, why. */
function returnsList(order: OrderView): HTMLElement {
  const list = element('ul', 'returns');
  for (const each of order.returns) {
    const item = element(
      'li',
      each.restock ? 'return-restocked' : 'return-written-off',
      `${each.at.slice(11, 19)} ${linesText(each.lines)}: ${each.restock ? 'restocked' : 'written off'}`,
    );
    if (each.reason) item.append(element('span', 'muted', ` (${each.reason})`));
    list.append(item);
  }
  return list;
}

function orderFacts(order: OrderView): HTMLElement {
  const facts: [string, string][] = [
    ['id', order.id],
    ['customer', order.customer_id],
    ['status', order.late ? `${order.status} (late payment)` : order.status],
    ['lines', linesText(order.lines)],
    ['created', order.created_at],
    ['deadline', order.expires_at],
    ['extensions', String(order.extensions)],
    ['paid', order.paid_at ? `${order.paid_at} (${order.payment_id})` : '—'],
  ];
  if (order.sold_lines) facts.push(['sold', linesText(order.sold_lines)]);
  if (order.released_lines) facts.push(['released at payment', linesText(order.released_lines)]);
  return definitionList(facts);
}

function definitionList(pairs: [string, string][]): HTMLElement {
  const list = element('dl', 'facts');
  for (const [term, value] of pairs)
    list.append(element('dt', undefined, term), element('dd', undefined, value));
  return list;
}

/** Ledger rows; a SKU's ledger names each row's order, an order's ledger each row's SKU. */
function ledgerTable(entries: LedgerEntryView[], of: 'sku' | 'order'): HTMLElement {
  const tableNode = element('table', 'ledger');
  const head = element('tr');
  const other = of === 'sku' ? 'order' : 'sku';
  for (const title of ['seq', 'at', 'kind', other, 'Δ avail', 'Δ hold', 'Δ sold', 'after (a/h/s)'])
    head.append(element('th', undefined, title));
  tableNode.append(head);
  for (const entry of entries) {
    const row = element('tr');
    row.append(
      element('td', 'num', String(entry.seq)),
      element('td', undefined, entry.at.slice(11, 23)),
      element('td', undefined, entry.kind),
      of === 'sku'
        ? element('td', 'mono', entry.order_id ? shortId(entry.order_id) : '—')
        : element('td', 'mono', entry.sku),
      element('td', 'num', String(entry.delta_available)),
      element('td', 'num', String(entry.delta_on_hold)),
      element('td', 'num', String(entry.delta_sold)),
      element('td', 'num', `${entry.available_after}/${entry.on_hold_after}/${entry.sold_after}`),
    );
    tableNode.append(row);
  }
  return tableNode;
}

async function showOrder(id: string): Promise<void> {
  openDetail(`Order ${shortId(id)}`, null);
  try {
    // The order's own movements, every SKU of it, from the server's index: scanning each SKU's
    // ledger here missed them on a SKU with more movements than the page could read.
    const [order, ledger] = await Promise.all([
      api<OrderView>('GET', `/v1/orders/${encodeURIComponent(id)}`),
      api<{ items: LedgerEntryView[] }>('GET', `/v1/orders/${encodeURIComponent(id)}/ledger`),
    ]);
    const parts: HTMLElement[] = [orderFacts(order)];
    if (order.returns.length > 0)
      parts.push(element('h3', undefined, `Returns (${order.returns.length})`), returnsList(order));
    parts.push(element('h3', undefined, 'Ledger of this order'), ledgerTable(ledger.items, 'order'));
    if (order.status === 'pending_payment') {
      const cancel = element('button', undefined, 'cancel this order');
      cancel.type = 'button';
      cancel.addEventListener('click', () => {
        fillForm('cancel-form', { order_id: order.id });
        byId<HTMLFormElement>('cancel-form').requestSubmit();
      });
      parts.push(cancel);
    }
    detail.replaceChildren(...parts);
  } catch (error) {
    detail.replaceChildren(element('p', 'error', describe(error)));
  }
}

async function showSku(sku: string): Promise<void> {
  openDetail(`SKU ${sku}`, sku);
  try {
    const view = await api<SkuView>('GET', `/v1/skus/${encodeURIComponent(sku)}`);
    table.upsertView(view);
    fillForm('restock-form', { sku: view.sku, expected_available: String(view.available) });
    // Newest first from the server: reading from the oldest, a busy SKU's latest movements were
    // beyond the pages the panel could read.
    const latest = await api<{ items: LedgerEntryView[] }>(
      'GET',
      `/v1/skus/${encodeURIComponent(sku)}/ledger?order=newest&limit=${SKU_LEDGER_ROWS}`,
    );
    detail.replaceChildren(
      definitionList([
        ['name', view.name || '—'],
        ['available / on hold / sold', `${view.available} / ${view.on_hold} / ${view.sold}`],
        ['max per customer', view.max_per_customer === null ? '—' : String(view.max_per_customer)],
        ['low-stock threshold', view.low_stock_threshold === null ? '—' : String(view.low_stock_threshold)],
        ['archived', view.archived ? 'yes: no new holds' : 'no'],
        ['version', String(view.version)],
        ['updated', view.updated_at],
      ]),
      // Seqs count a SKU's movements from 1, so the newest one's is how many there are.
      element(
        'h3',
        undefined,
        `Latest ledger entries (${latest.items.length} of ${formatCount(latest.items[0]?.seq ?? 0)})`,
      ),
      ledgerTable(latest.items, 'sku'),
    );
  } catch (error) {
    detail.replaceChildren(element('p', 'error', describe(error)));
  }
}

// ---- forms ---------------------------------------------------------------------------------

function fillForm(id: string, values: Record<string, string>): void {
  const form = byId<HTMLFormElement>(id);
  for (const [name, value] of Object.entries(values))
    (form.elements.namedItem(name) as HTMLInputElement).value = value;
}

/** Integer fields: empty means "not given"; anything else must be an integer (the API decides ranges). */
function optionalInteger(value: FormDataEntryValue | null): number | undefined {
  const text = String(value ?? '').trim();
  return text === '' ? undefined : Number(text);
}

handleForm('create-sku-form', async (data) => {
  const body: Record<string, unknown> = { sku: String(data.get('sku')).trim() };
  const name = String(data.get('name') ?? '').trim();
  if (name) body.name = name;
  const available = optionalInteger(data.get('available'));
  if (available !== undefined) body.available = available;
  const max_per_customer = optionalInteger(data.get('max_per_customer'));
  if (max_per_customer !== undefined) body.max_per_customer = max_per_customer;
  const sku = await api<SkuView>('POST', '/v1/skus', body);
  table.upsertView(sku);
  return `created ${sku.sku} with ${sku.available} available`;
});

handleForm('restock-form', async (data) => {
  const sku_id = String(data.get('sku')).trim();
  const body: Record<string, unknown> = { delta: optionalInteger(data.get('delta')), reason: 'dashboard' };
  const expected_available = optionalInteger(data.get('expected_available'));
  if (expected_available !== undefined) body.expected_available = expected_available;
  const sku = await api<SkuView>('POST', `/v1/skus/${encodeURIComponent(sku_id)}/adjustments`, body);
  table.upsertView(sku);
  fillForm('restock-form', { expected_available: String(sku.available) });
  return `${sku.sku}: ${sku.available} available now`;
});

handleForm('cancel-form', async (data) => {
  const id = String(data.get('order_id')).trim();
  const order = await api<OrderView>('POST', `/v1/orders/${encodeURIComponent(id)}/cancel`);
  orders.apply(order);
  return `order ${shortId(order.id)} is ${order.status}`;
});

// ---- start ---------------------------------------------------------------------------------
async function pollStats(): Promise<void> {
  let last: number | null = null;
  let since = '';
  for (;;) {
    try {
      const stats = await api<{ since: string; checkouts_refused: number; checkouts_shed: number }>(
        'GET',
        '/v1/stats',
      );
      const total = stats.checkouts_refused + stats.checkouts_shed;
      // A restarted server counts from zero again.
      if (last !== null && stats.since === since && total > last)
        chart.count('refusals', Date.now(), total - last);
      last = total;
      since = stats.since;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return; // a server without /v1/stats
    }
    await new Promise((resolve) => setTimeout(resolve, STATS_INTERVAL_MS));
  }
}

async function start(): Promise<void> {
  renderTotals();
  followEvents({ url: '/v1/events', on_message: onMessage, on_status: onStatus });
  try {
    // Archived SKUs too: the table hides them until asked, and an unarchived one needs no reload.
    await listAll<SkuView>('/v1/skus?archived=true', SKU_PAGE_SIZE, SKU_PAGES_MAX, (page) => {
      for (const sku of page) table.upsertView(sku);
    });
    const recent = await api<{ items: OrderView[] }>('GET', '/v1/orders?limit=40');
    orders.loadRecent(recent.items);
    const pending = await listAll<OrderView>('/v1/orders?status=pending_payment', 500, PENDING_PAGES_MAX);
    orders.loadPending(pending.items, pending.complete);
  } catch (error) {
    showError(`could not load the snapshot: ${describe(error)} (reload to retry)`);
  } finally {
    for (const event of buffered ?? []) applyEvent(event);
    buffered = null;
    orders.render();
    renderTotals();
    document.body.dataset.loaded = 'true';
  }
  void pollStats();
  new DropsPanel().start();
}

void start();
