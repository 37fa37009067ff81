// Replays a drop's shoppers against a stockhold server, first-come or through the waiting room, on
// the server's simulated clock in milliseconds: scripts that arrive in the first milliseconds and
// retry at once, humans who think and whose page polls every few seconds. Counts who got the units.
import { assert } from '../core/errors.ts';
import { ADMISSION_INTERVAL_MS } from '../sweeper/admitter.ts';
import { DROP_TIMING, type DropScript, type DropShopper } from './drop-script.ts';
import { runLimited, SALE_START_MS } from './runner.ts';
import type { DropView, StockholdStrategy, TicketStatus, TicketView } from './stockhold.ts';
import type { StockCounters } from './strategy.ts';

export type DropMode = 'first_come' | 'waiting_room';

export const DROP_MODE_LABELS: Record<DropMode, string> = {
  first_come: 'first-come',
  waiting_room: 'waiting room',
};

/** The id of the simulated drop. */
export const DROP_ID = 'simulated-drop';

/**
 * The simulated clock's step: what is due within the same 10 ms goes out together. Scripts still
 * come first (their 50 ms are five steps, a human's think time hundreds) and a run takes a few
 * hundred steps a simulated second at most.
 */
const STEP_MS = 10;
/** Bounds on a run, so a bug cannot make it spin: simulated steps, and checkouts per script. */
const STEPS_MAX = 1_000_000;
const SCRIPT_CHECKOUTS_MAX = 1000;

export interface DropRunOptions {
  concurrency: number;
  signal?: AbortSignal;
  /** Called after each simulated step with the simulated seconds since 00:00. */
  on_step?: (simulated_s: number) => void;
}

export interface TimeToAdmission {
  p50_ms: number;
  p99_ms: number;
  scripts_p50_ms: number | null;
  humans_p50_ms: number | null;
}

export interface DropRunMetrics {
  shoppers: number;
  scripts: number;
  /** Units of the drop's SKUs at the start. */
  stock: number;
  units_sold: number;
  units_sold_to_scripts: number;
  units_left_unsold: number;
  /** Units of every checkout accepted (a unit held twice, after a lapse, counts twice). */
  units_held: number;
  units_held_by_scripts: number;
  /** Tickets admitted, ever, by who took them; null first-come. */
  admitted: { scripts: number; humans: number } | null;
  /** Shoppers with a paid order. */
  buyers: { scripts: number; humans: number };
  checkouts_sent: number;
  checkouts_refused: number;
  /** Refused checkouts by error code. */
  refusals: Record<string, number>;
  payments_refused: number;
  /** From 00:00 (or the ticket, when taken later) to the admission; null first-come. */
  time_to_admission: TimeToAdmission | null;
  /** The tickets at the end by status; null first-come. */
  tickets: Record<string, number> | null;
  oversold_units: number;
  /** Sum over SKUs of |the store's available + on hold - (stock - units paid)|. */
  miscounted_units: number;
  audit_problems: string[];
}

/** Units sold so far, after each payment: the report draws them. */
export interface SalePoint {
  t_s: number;
  scripts: number;
  humans: number;
}

export interface DropRun {
  mode: DropMode;
  location: string;
  metrics: DropRunMetrics;
  sales: SalePoint[];
  /** Simulated seconds from 00:00 to the last thing that happened. */
  simulated_s: number;
  duration_ms: number;
}

type EventKind = 'ticket' | 'poll' | 'checkout' | 'retry' | 'act' | 'deadline';

interface DropEvent {
  at_ms: number;
  /** A poll's interval: the page asks again this often while nothing new can show. */
  interval_ms?: number;
  kind: EventKind;
  /** Index of the shopper (-1 for a deadline, which only makes the sweeper pass). */
  shopper: number;
}

interface ShopperState {
  position: number | null;
  ticket_id: string | null;
  admission_token: string | null;
  order_id: string | null;
  checkouts: number;
}

interface Sale {
  mode: DropMode;
  strategy: StockholdStrategy;
  script: DropScript;
  options: DropRunOptions;
  states: ShopperState[];
  events: DropEvent[];
  deadlines: Set<number>;
  counters: Record<string, StockCounters>;
  view: DropView | null;
  tally: {
    checkouts_sent: number;
    refusals: Map<string, number>;
    payments_refused: number;
    units_paid: Map<string, number>;
    paid_by: { scripts: number; humans: number };
    held_by: { scripts: number; humans: number };
    buyers: Set<number>;
    sales: SalePoint[];
  };
}

function shopperOf(sale: Sale, index: number): { shopper: DropShopper; state: ShopperState } {
  const shopper = sale.script.shoppers[index];
  const state = sale.states[index];
  assert(shopper !== undefined && state !== undefined, 'an event names a shopper of the script');
  return { shopper, state };
}

/** Queues an event at the first step at or after `at_ms`. */
const schedule = (sale: Sale, at_ms: number, kind: EventKind, shopper: number, interval_ms?: number) =>
  sale.events.push({ at_ms: Math.ceil(at_ms / STEP_MS) * STEP_MS, kind, shopper, interval_ms });

/**
 * Whether a poll of this ticket can show something new: its position (unknown before the first
 * poll after the start), its turn (the drop admitted through it), or the drop's end. Any other poll
 * would only show a smaller `ahead`, so the simulator does not send it: the page's next poll at its
 * own phase after the news is the one that sees them.
 */
function pollCanSeeNews(sale: Sale, state: ShopperState): boolean {
  const { view } = sale;
  if (view === null || state.position === null) return true;
  if (view.status !== 'running') return true;
  return view.admitted_through >= state.position;
}

/** Whether the store shows every unit of the shopper's lines available: a script watches for that. */
function linesLookAvailable(sale: Sale, shopper: DropShopper): boolean {
  return shopper.lines.every((line) => (sale.counters[line.sku]?.available ?? 0) >= line.quantity);
}

/** When the event happens, seen from `now_ms`; null while it waits for news. */
function fireTime(sale: Sale, event: DropEvent, now_ms: number): number | null {
  if (event.kind === 'poll') {
    const { shopper, state } = shopperOf(sale, event.shopper);
    if (!pollCanSeeNews(sale, state)) return null;
    if (event.at_ms >= now_ms) return event.at_ms;
    // The page polls on its own phase: the first of its polls at or after now.
    const interval = event.interval_ms ?? shopper.poll_interval_ms;
    return event.at_ms + Math.ceil((now_ms - event.at_ms) / interval) * interval;
  }
  if (event.kind === 'retry' && !linesLookAvailable(sale, shopperOf(sale, event.shopper).shopper))
    return null;
  return Math.max(event.at_ms, now_ms);
}

/**
 * Whether an admitter pass can change the queue: it admits while the drop runs, someone waits and a
 * unit is available, and releases the line once everything is sold with nothing on hold.
 */
function queueCanMove(sale: Sale): boolean {
  const { view } = sale;
  if (sale.mode !== 'waiting_room' || view === null || view.status !== 'running') return false;
  if (view.counts.waiting === 0) return false;
  const skus = Object.values(sale.counters);
  // The server's rule (planAdmission): it admits only for units beyond one per open admission.
  const available = skus.reduce((sum, counters) => sum + counters.available, 0);
  return available > view.counts.admitted || skus.every((counters) => counters.on_hold === 0);
}

function nextTime(sale: Sale, now_ms: number, last_pass_ms: number): number | null {
  let next: number | null = queueCanMove(sale)
    ? Math.max(now_ms, last_pass_ms + ADMISSION_INTERVAL_MS)
    : null;
  for (const event of sale.events) {
    const at = fireTime(sale, event, now_ms);
    if (at !== null && (next === null || at < next)) next = at;
  }
  return next;
}

/** Takes the events due at `now_ms` off the queue. */
function takeDue(sale: Sale, now_ms: number): DropEvent[] {
  const due: DropEvent[] = [];
  const later: DropEvent[] = [];
  for (const event of sale.events) {
    const at = fireTime(sale, event, now_ms);
    (at !== null && at <= now_ms ? due : later).push(event);
  }
  sale.events = later;
  return due;
}

async function refresh(sale: Sale): Promise<void> {
  sale.counters = await sale.strategy.counters(sale.script.skus.map((plan) => plan.sku));
  if (sale.mode === 'waiting_room') sale.view = await sale.strategy.readDrop(DROP_ID);
}

/**
 * Steps the simulated clock from one due event to the next until nothing is left that can happen.
 * The sweeper passes at each hold's deadline. The admitter passes at most every
 * ADMISSION_INTERVAL_MS, as the server's does, and at each step after a longer gap: while the queue
 * is paused a pass only moves the rate's clock, which the simulator must move too, or the first pass
 * after a pause would admit a second's worth at once.
 */
async function play(sale: Sale, start_ms: number): Promise<number> {
  const admits = sale.mode === 'waiting_room';
  let now_ms = start_ms;
  let last_pass_ms = Number.NEGATIVE_INFINITY;
  for (let step = 0; ; step++) {
    assert(step < STEPS_MAX, `a drop's run settles within ${STEPS_MAX} steps`);
    sale.options.signal?.throwIfAborted();
    const next = nextTime(sale, now_ms, last_pass_ms);
    if (next === null) return now_ms;
    now_ms = next;
    const due = takeDue(sale, now_ms);
    sale.strategy.moveClock(now_ms);
    if (admits && now_ms - last_pass_ms >= ADMISSION_INTERVAL_MS) {
      await sale.strategy.admitOnce();
      last_pass_ms = now_ms;
    }
    if (due.some((event) => event.kind === 'deadline')) {
      await sale.strategy.advanceTo(now_ms);
      if (admits) await sale.strategy.admitOnce();
    }
    const actions = due.filter((event) => event.kind !== 'deadline');
    await runLimited(actions, sale.options.concurrency, (event) => handle(sale, event, now_ms));
    await refresh(sale);
    sale.options.on_step?.((now_ms - SALE_START_MS) / 1000);
  }
}

async function handle(sale: Sale, event: DropEvent, now_ms: number): Promise<void> {
  switch (event.kind) {
    case 'ticket':
      return takeTicket(sale, event.shopper);
    case 'poll':
      return poll(sale, event.shopper, now_ms);
    case 'checkout':
    case 'retry':
      return checkout(sale, event.shopper, now_ms);
    case 'act':
      return act(sale, event.shopper);
    case 'deadline':
      return;
  }
}

async function takeTicket(sale: Sale, index: number): Promise<void> {
  const { shopper, state } = shopperOf(sale, index);
  const ticket = await sale.strategy.takeTicket(DROP_ID, shopper.id);
  state.ticket_id = ticket.id;
  // Before the start a ticket has no position: the page's polls begin to matter at 00:00.
  schedule(sale, SALE_START_MS + shopper.poll_phase_ms, 'poll', index);
}

async function poll(sale: Sale, index: number, now_ms: number): Promise<void> {
  const { shopper, state } = shopperOf(sale, index);
  assert(state.ticket_id !== null, 'a shopper polls the ticket it took');
  const ticket = await sale.strategy.readTicket(DROP_ID, state.ticket_id);
  if (ticket.status === 'waiting') {
    state.position = ticket.position;
    // A human's page asks again when the ticket says; a script polls at its own pace.
    const interval_ms =
      shopper.script || ticket.poll_after_seconds === null
        ? shopper.poll_interval_ms
        : ticket.poll_after_seconds * 1000;
    assert(interval_ms % STEP_MS === 0, 'a poll interval is whole steps');
    schedule(sale, now_ms + interval_ms, 'poll', index, interval_ms);
  } else if (ticket.status === 'admitted') {
    assert(ticket.admission_token !== null, 'an admitted ticket shows its token');
    state.admission_token = ticket.admission_token;
    schedule(sale, now_ms + shopper.reaction_ms, 'checkout', index);
  }
  // used, expired, sold out: nothing more to wait for.
}

async function checkout(sale: Sale, index: number, now_ms: number): Promise<void> {
  const { shopper, state } = shopperOf(sale, index);
  if (sale.mode === 'waiting_room')
    assert(state.admission_token !== null, 'a waiting-room checkout has its admission');
  state.checkouts += 1;
  sale.tally.checkouts_sent += 1;
  const answer = await sale.strategy.checkoutUnder(shopper.id, shopper.lines, state.admission_token);
  if (answer.ok) {
    state.order_id = answer.order_id;
    const units = shopper.lines.reduce((sum, line) => sum + line.quantity, 0);
    if (shopper.script) sale.tally.held_by.scripts += units;
    else sale.tally.held_by.humans += units;
    if (!sale.deadlines.has(answer.expires_at_ms)) {
      sale.deadlines.add(answer.expires_at_ms);
      schedule(sale, answer.expires_at_ms, 'deadline', -1);
    }
    if (shopper.action_delay_s !== null) schedule(sale, now_ms + shopper.action_delay_s * 1000, 'act', index);
    return;
  }
  const { refusals } = sale.tally;
  refusals.set(answer.code, (refusals.get(answer.code) ?? 0) + 1);
  // A human told "out of stock" leaves; a script tries again at once, as soon as the store shows stock.
  if (answer.code === 'insufficient_stock' && shopper.script && state.checkouts < SCRIPT_CHECKOUTS_MAX)
    schedule(sale, now_ms + DROP_TIMING.script_retry_ms, 'retry', index);
}

async function act(sale: Sale, index: number): Promise<void> {
  const { shopper, state } = shopperOf(sale, index);
  assert(state.order_id !== null, 'a shopper acts on the order it holds');
  if (shopper.intent === 'cancel') {
    await sale.strategy.cancel(state.order_id);
    return;
  }
  const answer = await sale.strategy.pay(state.order_id, `payment-${shopper.id}`);
  const { tally } = sale;
  if (!answer.ok) {
    tally.payments_refused += 1;
    return;
  }
  const units = shopper.lines.reduce((sum, line) => sum + line.quantity, 0);
  for (const line of shopper.lines)
    tally.units_paid.set(line.sku, (tally.units_paid.get(line.sku) ?? 0) + line.quantity);
  if (shopper.script) tally.paid_by.scripts += units;
  else tally.paid_by.humans += units;
  tally.buyers.add(index);
  tally.sales.push({
    t_s: (sale.strategy.now() - SALE_START_MS) / 1000,
    scripts: tally.paid_by.scripts,
    humans: tally.paid_by.humans,
  });
}

/** Nearest-rank percentile of sorted values. */
function percentile(sorted: readonly number[], share: number): number {
  const value = sorted[Math.max(0, Math.ceil(share * sorted.length) - 1)];
  assert(value !== undefined, 'a percentile of a non-empty list');
  return value;
}

const median = (values: number[]) =>
  values.length === 0
    ? null
    : percentile(
        values.sort((a, b) => a - b),
        0.5,
      );

/** Every ticket at the end: how many end in each status, and how long each admitted one waited. */
async function readTickets(sale: Sale): Promise<{
  tickets: Record<string, number>;
  admitted: { scripts: number; humans: number };
  time_to_admission: TimeToAdmission | null;
}> {
  const counts: Record<string, number> = {};
  const waits: { script: boolean; ms: number }[] = [];
  const start_ms = SALE_START_MS;
  const indexes = sale.states.map((_, index) => index);
  await runLimited(indexes, sale.options.concurrency, async (index) => {
    const { shopper, state } = shopperOf(sale, index);
    if (state.ticket_id === null) return;
    const ticket: TicketView = await sale.strategy.readTicket(DROP_ID, state.ticket_id);
    const status: TicketStatus = ticket.status;
    counts[status] = (counts[status] ?? 0) + 1;
    if (ticket.admitted_at !== null)
      waits.push({
        script: shopper.script,
        ms: Date.parse(ticket.admitted_at) - Math.max(start_ms, Date.parse(ticket.joined_at)),
      });
  });
  const scripts = waits.filter((wait) => wait.script).length;
  const admitted = { scripts, humans: waits.length - scripts };
  if (waits.length === 0) return { tickets: counts, admitted, time_to_admission: null };
  const all = waits.map((wait) => wait.ms).sort((a, b) => a - b);
  return {
    tickets: counts,
    admitted,
    time_to_admission: {
      p50_ms: percentile(all, 0.5),
      p99_ms: percentile(all, 0.99),
      scripts_p50_ms: median(waits.filter((wait) => wait.script).map((wait) => wait.ms)),
      humans_p50_ms: median(waits.filter((wait) => !wait.script).map((wait) => wait.ms)),
    },
  };
}

async function metricsOf(sale: Sale): Promise<DropRunMetrics> {
  const { script, tally } = sale;
  const skus = script.skus.map((plan) => plan.sku);
  const end = await sale.strategy.finish(skus);
  const stock = script.skus.reduce((sum, plan) => sum + plan.stock, 0);
  const units_sold = tally.paid_by.scripts + tally.paid_by.humans;
  let oversold_units = 0;
  let miscounted_units = 0;
  for (const plan of script.skus) {
    const paid = tally.units_paid.get(plan.sku) ?? 0;
    const counters = end.counters[plan.sku];
    assert(counters !== undefined, `finish() answers for every SKU it was given (${plan.sku})`);
    oversold_units += Math.max(0, paid - plan.stock);
    miscounted_units += Math.abs(counters.available + counters.on_hold - (plan.stock - paid));
  }
  const refusals = Object.fromEntries([...tally.refusals].sort(([a], [b]) => a.localeCompare(b)));
  const tickets = sale.mode === 'waiting_room' ? await readTickets(sale) : null;
  const buyers = [...tally.buyers].map((index) => shopperOf(sale, index).shopper);
  return {
    shoppers: script.shoppers.length,
    scripts: script.shoppers.filter((shopper) => shopper.script).length,
    stock,
    units_sold,
    units_sold_to_scripts: tally.paid_by.scripts,
    units_left_unsold: stock - units_sold,
    units_held: tally.held_by.scripts + tally.held_by.humans,
    units_held_by_scripts: tally.held_by.scripts,
    admitted: tickets?.admitted ?? null,
    buyers: {
      scripts: buyers.filter((shopper) => shopper.script).length,
      humans: buyers.filter((shopper) => !shopper.script).length,
    },
    checkouts_sent: tally.checkouts_sent,
    checkouts_refused: [...tally.refusals.values()].reduce((sum, count) => sum + count, 0),
    refusals,
    payments_refused: tally.payments_refused,
    time_to_admission: tickets?.time_to_admission ?? null,
    tickets: tickets?.tickets ?? null,
    oversold_units,
    miscounted_units,
    audit_problems: end.audit_problems ?? [],
  };
}

/** The shoppers' first moves: a checkout at their first-come time, or a ticket when the room opens. */
async function open(sale: Sale): Promise<number> {
  const open_ms = SALE_START_MS - DROP_TIMING.open_before_start_ms;
  sale.strategy.moveClock(open_ms);
  sale.script.shoppers.forEach((shopper, index) => {
    if (sale.mode === 'first_come') schedule(sale, SALE_START_MS + shopper.first_come_ms, 'checkout', index);
    else schedule(sale, open_ms + shopper.ticket_ms, 'ticket', index);
  });
  if (sale.mode === 'waiting_room') {
    const { drop } = sale.script;
    await sale.strategy.createDrop({
      id: DROP_ID,
      skus: sale.script.skus.map((plan) => plan.sku),
      starts_at: new Date(SALE_START_MS).toISOString(),
      admission_per_second: drop.admission_per_second,
      admission_seconds: drop.admission_seconds,
    });
    // The sweeper passes at the start: the pre-queue is shuffled and the first admitted.
    schedule(sale, SALE_START_MS, 'deadline', -1);
  }
  await refresh(sale);
  return open_ms;
}

/** Runs the drop's shoppers against `strategy` (set up with the drop's SKUs, its clock before 00:00). */
export async function runDrop(
  mode: DropMode,
  strategy: StockholdStrategy,
  script: DropScript,
  options: DropRunOptions,
): Promise<DropRun> {
  const started_ms = performance.now();
  // A page polls on its phase: an interval of whole steps keeps every poll on a step.
  assert(
    [DROP_TIMING.human_poll_ms, DROP_TIMING.script_poll_ms, ADMISSION_INTERVAL_MS].every(
      (interval) => interval % STEP_MS === 0,
    ),
    'the poll and admission intervals are whole steps',
  );
  const sale: Sale = {
    mode,
    strategy,
    script,
    options,
    states: script.shoppers.map(() => ({
      position: null,
      ticket_id: null,
      admission_token: null,
      order_id: null,
      checkouts: 0,
    })),
    events: [],
    deadlines: new Set(),
    counters: {},
    view: null,
    tally: {
      checkouts_sent: 0,
      refusals: new Map(),
      payments_refused: 0,
      units_paid: new Map(),
      paid_by: { scripts: 0, humans: 0 },
      held_by: { scripts: 0, humans: 0 },
      buyers: new Set(),
      sales: [],
    },
  };
  const end_ms = await play(sale, await open(sale));
  return {
    mode,
    location: strategy.location,
    metrics: await metricsOf(sale),
    sales: sale.tally.sales,
    simulated_s: Math.max(0, (end_ms - SALE_START_MS) / 1000),
    duration_ms: Math.round(performance.now() - started_ms),
  };
}
