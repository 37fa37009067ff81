// The dashboard's Drops panel: each drop's queue, admission rate and time to admission, read from
// GET /v1/drops every few seconds while the page is visible (drops are few; the panel polls one list).
import { ApiError, api } from './api.ts';
import { byId, element, formatCount } from './dom.ts';
import { type DropView, formatDuration } from './drop-views.ts';

const REFRESH_INTERVAL_MS = 3000;
const REFRESH_INTERVAL_MS_MAX = 30_000;

export class DropsPanel {
  private readonly panel = byId('drops-panel');
  private readonly rows = byId<HTMLTableSectionElement>('drops-rows');
  private readonly empty = byId('drops-empty');
  private readonly message = byId('drops-message');
  private timer: ReturnType<typeof setTimeout> | null = null;
  private interval_ms = REFRESH_INTERVAL_MS;
  private stopped = false;

  start(): void {
    document.addEventListener('visibilitychange', () => {
      if (document.hidden) this.cancel();
      else if (this.timer === null) void this.refresh();
    });
    void this.refresh();
  }

  private cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }

  private async refresh(): Promise<void> {
    this.cancel();
    try {
      const { items } = await api<{ items: DropView[] }>('GET', '/v1/drops');
      this.render(items);
      this.message.hidden = true;
      this.interval_ms = REFRESH_INTERVAL_MS;
    } catch (error) {
      // A server without drops: the panel has nothing to show, ever.
      if (error instanceof ApiError && error.status === 404) {
        this.panel.hidden = true;
        this.stopped = true;
        return;
      }
      this.message.textContent = `drops: ${error instanceof ApiError ? error.code : String(error)}`;
      this.message.hidden = false;
      this.interval_ms = Math.min(REFRESH_INTERVAL_MS_MAX, this.interval_ms * 2);
    }
    if (!this.stopped && !document.hidden)
      this.timer = setTimeout(() => void this.refresh(), this.interval_ms);
  }

  private render(drops: DropView[]): void {
    this.empty.hidden = drops.length > 0;
    this.rows.replaceChildren(...drops.map((drop) => dropRow(drop)));
  }
}

function dropRow(drop: DropView): HTMLTableRowElement {
  const row = element('tr');
  row.dataset.dropId = drop.id;
  const link = element('a', 'mono', drop.id);
  link.href = `/drops/${encodeURIComponent(drop.id)}`;
  link.title = `the waiting page of ${drop.id}`;
  const name = element('td');
  name.append(link);
  const { counts, time_to_admission_ms: latency } = drop;
  row.append(
    name,
    element('td', `drop-status drop-status-${drop.status}`, drop.status.replace('_', ' ')),
    element('td', 'num waiting', formatCount(counts.waiting)),
    element('td', 'num rate', (drop.admitted_last_10s / 10).toFixed(1)),
    element('td', 'num latency', `${formatDuration(latency.p50)} / ${formatDuration(latency.p99)}`),
    outcomes(counts),
  );
  return row;
}

/** Used / expired / sold out, each in its own span (the test and a reader can tell them apart). */
function outcomes(counts: DropView['counts']): HTMLTableCellElement {
  const cell = element('td', 'num outcomes');
  cell.append(
    element('span', 'used', formatCount(counts.used)),
    ' / ',
    element('span', 'expired', formatCount(counts.expired)),
    ' / ',
    element('span', 'sold_out', formatCount(counts.sold_out)),
  );
  return cell;
}
