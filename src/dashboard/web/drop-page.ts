// A drop's waiting page (/drops/{id}): join the line with a customer id, then follow the ticket by
// polling it when the server says to (every 2 to 30 s: sooner as the turn nears), until it is used,
// expired or sold out. The ticket id is kept in localStorage per drop, so a reload (or a crash of
// the browser) keeps the place.
import './style.css';
import { ApiError, api, serverNowMs } from './api.ts';
import { byId } from './dom.ts';
import { TicketPanel } from './drop-ticket.ts';
import { type DropView, formatLocalTime, type TicketStatus, type TicketView } from './drop-views.ts';
import { describe, handleForm } from './forms.ts';
import { installKeyDialog } from './key-dialog.ts';

/** The ticket read is cheap, but every waiting browser makes it: not more often than this. */
const POLL_INTERVAL_MS = 2000;
const POLL_INTERVAL_MS_MAX = 30_000;
const LINE_CLOSED = 'The line is closed: the drop is sold out or over.';
const FINAL_STATUSES: readonly TicketStatus[] = ['used', 'expired', 'sold_out'];

const drop_id = decodeURIComponent(location.pathname.split('/')[2] ?? '');
const drop_path = `/v1/drops/${encodeURIComponent(drop_id)}`;
const STORAGE_KEY = `stockhold.drop.${drop_id}.ticket`;

interface KeptTicket {
  ticket_id: string;
  customer_id: string;
}

const page_error = byId('page-error');
function showError(message: string): void {
  page_error.textContent = message;
  page_error.hidden = false;
}
window.addEventListener('error', (event) => showError(`page error: ${event.message}`));
window.addEventListener('unhandledrejection', (event) =>
  showError(`page error: ${(event.reason as Error)?.message ?? String(event.reason)}`),
);

// ---- the kept ticket -----------------------------------------------------------------------
function keptTicket(): KeptTicket | null {
  try {
    const kept = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? 'null') as KeptTicket | null;
    return kept && typeof kept.ticket_id === 'string' ? kept : null;
  } catch {
    return null;
  }
}

function keepTicket(ticket: TicketView | null): void {
  if (ticket === null) localStorage.removeItem(STORAGE_KEY);
  else
    localStorage.setItem(
      STORAGE_KEY,
      JSON.stringify({ ticket_id: ticket.id, customer_id: ticket.customer_id } satisfies KeptTicket),
    );
}

// ---- the drop ------------------------------------------------------------------------------
let drop: DropView | null = null;

const STATUS_WORDS: Record<DropView['status'], (drop: DropView) => string> = {
  open: (shown) => `Starts at ${formatLocalTime(shown.starts_at)}`,
  running: (shown) => `Running since ${formatLocalTime(shown.starts_at)}`,
  sold_out: () => 'Sold out',
  over: (shown) => `Over since ${formatLocalTime(shown.ends_at ?? shown.starts_at)}`,
};

/** Reads the drop: on opening, and again when the ticket's phase changes (not on every poll). */
async function loadDrop(): Promise<void> {
  const summary = byId('drop-summary');
  try {
    drop = await api<DropView>('GET', drop_path);
    summary.textContent = `${STATUS_WORDS[drop.status](drop)} · ${drop.skus.length === 1 ? 'SKU' : 'SKUs'} ${drop.skus.join(', ')}`;
    summary.dataset.status = drop.status;
    summary.dataset.startsAt = drop.starts_at;
  } catch (error) {
    if (error instanceof ApiError && error.code === 'drop_not_found') {
      summary.textContent = 'There is no drop by this name. Check the address.';
      summary.dataset.status = 'not_found';
      return;
    }
    // A key that may join but not read the drop (403), or a passing failure: the line still works.
    summary.textContent = `The drop's details could not be read (${describe(error)}).`;
  }
}

function showDropTitle(): void {
  byId('drop-title').textContent = `Drop ${drop_id}`;
  document.title = `${drop_id} · waiting room`;
}

// ---- following the ticket ------------------------------------------------------------------
const ticket_panel = new TicketPanel();
let following: symbol | null = null;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls the ticket until it reaches a final status or is forgotten; errors back off, doubling. */
async function follow(ticket_id: string): Promise<void> {
  const run = Symbol(ticket_id);
  following = run;
  let interval_ms = POLL_INTERVAL_MS;
  let last_phase: string | null = null;
  while (following === run) {
    try {
      const ticket = await api<TicketView>('GET', `${drop_path}/tickets/${encodeURIComponent(ticket_id)}`);
      if (following !== run) return;
      // A new phase (the draw at the start, an admission, the end) may come with a new drop status.
      const phase = ticket.position === null ? `${ticket.status} before the start` : ticket.status;
      if (last_phase !== null && phase !== last_phase) await loadDrop();
      last_phase = phase;
      if (ticket.status === 'waiting' && (await dropEnded())) {
        // Past ends_at a waiting ticket stays waiting for good: say so, and stop asking.
        ticket_panel.show(ticket, drop);
        return;
      }
      ticket_panel.show(ticket, drop);
      ticket_panel.showTrouble(null);
      // The server says when to ask again (sooner as the turn nears): a long line polls gently.
      interval_ms = Math.max(POLL_INTERVAL_MS, (ticket.poll_after_seconds ?? 0) * 1000);
      if (FINAL_STATUSES.includes(ticket.status)) return;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) {
        // The server does not know this ticket (another database, a drop deleted): start again.
        forget();
        return;
      }
      interval_ms = Math.min(POLL_INTERVAL_MS_MAX, interval_ms * 2);
      ticket_panel.showTrouble(
        `Could not check your place (${describe(error)}); trying again in ${Math.round(interval_ms / 1000)} s. Your place is kept.`,
      );
    }
    await sleep(interval_ms);
  }
}

/** Whether the drop is over, read again once its ends_at has passed by the server's clock. */
async function dropEnded(): Promise<boolean> {
  if (drop?.ends_at == null || serverNowMs() < Date.parse(drop.ends_at)) return false;
  if (drop.status !== 'over') await loadDrop();
  return drop.status === 'over';
}

function forget(): void {
  following = null;
  keepTicket(null);
  ticket_panel.hide();
  byId('join-panel').hidden = false;
}

// ---- joining -------------------------------------------------------------------------------
function installJoinForm(): void {
  const input = byId<HTMLInputElement>('customer-id');
  input.value = keptTicket()?.customer_id ?? '';
  handleForm(
    'join-form',
    async (data) => {
      const customer_id = String(data.get('customer_id') ?? '').trim();
      const ticket = await api<TicketView>('POST', `${drop_path}/tickets`, { customer_id });
      keepTicket(ticket);
      byId('join-panel').hidden = true;
      ticket_panel.show(ticket, drop);
      byId('ticket-headline').focus();
      void follow(ticket.id);
      return '';
    },
    { pending: 'joining…', refusal: joinRefusal },
  );
  byId('forget-ticket').addEventListener('click', () => {
    forget();
    input.focus();
  });
}

function joinRefusal(error: unknown): string {
  if (error instanceof ApiError && error.code === 'drop_closed') return LINE_CLOSED;
  if (error instanceof ApiError && error.code === 'drop_not_found') return 'There is no drop by this name.';
  return `Could not join: ${describe(error)}`;
}

// ---- start ---------------------------------------------------------------------------------
async function start(): Promise<void> {
  installKeyDialog();
  showDropTitle();
  installJoinForm();
  await loadDrop();
  const kept = keptTicket();
  if (kept) void follow(kept.ticket_id);
  else if (drop?.status === 'sold_out' || drop?.status === 'over') {
    byId('drop-closed').textContent = LINE_CLOSED;
    byId('drop-closed').hidden = false;
  } else if (byId('drop-summary').dataset.status !== 'not_found') byId('join-panel').hidden = false;
  document.body.dataset.loaded = 'true';
}

void start();
