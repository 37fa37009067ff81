// Replays one shopper script against one strategy, second by simulated second: everything the
// script puts in the same second is sent at once (bounded in-flight), then the clock moves on.
// Counts what shoppers were told, and what a warehouse can then actually ship.
import { assert } from '../core/errors.ts';
import type { Shopper, ShopperScript, SkuPlan } from './script.ts';
import type { StockCounters, Strategy, StrategyEnd, StrategyName } from './strategy.ts';

/** 00:00:00 on 12.12, local to nobody: the simulated start of the sale. */
export const SALE_START_MS = Date.UTC(2026, 11, 12, 0, 0, 0);

export interface RunOptions {
  /** Requests in flight at once, at most. */
  concurrency: number;
  /** Called after each event with the events done so far and the total. */
  on_progress?: (done: number, total: number) => void;
  /** Stops the run between two simulated seconds (Ctrl-C), so the caller can clean up. */
  signal?: AbortSignal;
}

export interface SkuOutcome {
  sku: string;
  stock: number;
  units_paid: number;
  oversold_units: number;
  /** What the store's counter says is left (available + on hold) at the end. */
  recorded_left: number;
  /** What is really left: the stock minus every unit the store took money for. */
  true_left: number;
  min_available: number;
  turned_away: number;
}

export interface Metrics {
  shoppers: number;
  checkouts_accepted: number;
  turned_away: number;
  paid: number;
  paid_late: number;
  /** Holds a slow payer extended once before the deadline (stockhold; the legacy store holds nothing). */
  extended_holds: number;
  /** Late payments refused at once (money returned immediately), instead of cancelled days later. */
  payments_refused: number;
  cancelled_by_shopper: number;
  expired_holds: number;
  /** Paid orders the warehouse cannot ship: cancelled later, the calls Customer Service made. */
  cancelled_for_stock: number;
  oversold_units: number;
  /** Lowest `available` any hot SKU reached. */
  min_stock: number;
  /** Sum over SKUs of |recorded left - truly left|: how far the counters are misreported. */
  miscounted_units: number;
  /** Units still unsold at the end, on SKUs where some buyer had been told "out of stock". */
  unsold_while_turned_away: number;
  audit_problems: string[] | null;
}

export interface Series {
  available: number[];
  on_hold: number[];
  /** Stock minus units paid for so far: what the warehouse really has left (negative: oversold). */
  true_left: number[];
}

export interface StrategyRun {
  strategy: StrategyName;
  location: string;
  metrics: Metrics;
  skus: SkuOutcome[];
  /** One sample per simulated second, for the hot SKUs. */
  time_s: number[];
  series: Record<string, Series>;
  duration_ms: number;
}

type Event = { kind: 'checkout' | 'act' | 'extend'; shopper: number };

interface ShopperState {
  order_id: string | null;
}

/** What the replay counts as it goes: what each shopper was told, and what was paid for. */
interface Tally {
  /** By shopper index. */
  states: ShopperState[];
  /** Per SKU, the checkouts turned away because it was short. */
  turned_away: Map<string, number>;
  /** Per SKU, the units paid for (absent: none). */
  units_paid: Map<string, number>;
  /** The shoppers who paid, in the order they paid. */
  paid_orders: Shopper[];
  counts: {
    accepted: number;
    turned_away: number;
    paid: number;
    paid_late: number;
    refused: number;
    cancelled: number;
    extended: number;
  };
}

/** Runs `work` over `items` with at most `limit` running at once; rejects on the first failure. */
export async function runLimited<T>(items: readonly T[], limit: number, work: (item: T) => Promise<void>) {
  // One iterator shared by the workers: each item is taken by exactly one of them.
  const queue = items.values();
  const worker = async () => {
    for (const item of queue) await work(item);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** The script's events, grouped by the simulated second they happen in. */
export function eventsBySecond(script: ShopperScript): Map<number, Event[]> {
  const seconds = new Map<number, Event[]>();
  const add = (second: number, event: Event) => {
    const list = seconds.get(second);
    if (list) list.push(event);
    else seconds.set(second, [event]);
  };
  script.shoppers.forEach((shopper, index) => {
    add(shopper.arrival_s, { kind: 'checkout', shopper: index });
    if (shopper.action_delay_s !== null)
      add(shopper.arrival_s + shopper.action_delay_s, { kind: 'act', shopper: index });
    if (shopper.extend_delay_s !== null)
      add(shopper.arrival_s + shopper.extend_delay_s, { kind: 'extend', shopper: index });
  });
  return seconds;
}

export async function runStrategy(
  strategy: Strategy,
  script: ShopperScript,
  options: RunOptions,
): Promise<StrategyRun> {
  const started_ms = performance.now();
  const tally: Tally = {
    states: script.shoppers.map(() => ({ order_id: null })),
    turned_away: new Map(),
    units_paid: new Map(),
    paid_orders: [],
    counts: { accepted: 0, turned_away: 0, paid: 0, paid_late: 0, refused: 0, cancelled: 0, extended: 0 },
  };
  const { time_s, series } = await replay(strategy, script, tally, options);
  const end = await strategy.finish(script.skus.map((plan) => plan.sku));
  const skus = skuOutcomes(script.skus, tally, end);
  return {
    strategy: strategy.name,
    location: strategy.location,
    metrics: metricsOf(script, tally, end, skus),
    skus,
    time_s,
    series,
    duration_ms: Math.round(performance.now() - started_ms),
  };
}

/**
 * Sends the script's events second by simulated second, and samples the hot SKUs' counters after
 * each second: one sample per second, with what is truly left beside them.
 */
async function replay(
  strategy: Strategy,
  script: ShopperScript,
  tally: Tally,
  options: RunOptions,
): Promise<{ time_s: number[]; series: Record<string, Series> }> {
  const { parameters } = script;
  const hot_plans = script.skus.filter((plan) => plan.hot);
  const hot_skus = hot_plans.map((plan) => plan.sku);
  const events = eventsBySecond(script);
  const total = [...events.values()].reduce((sum, list) => sum + list.length, 0);
  const last_event_s = Math.max(...events.keys());
  // One hold past the last event: every hold still pending has expired by then.
  const end_s = last_event_s + parameters.hold_seconds + 1;
  const time_s: number[] = [];
  const series: Record<string, Series> = {};
  const sampled = hot_plans.map((plan) => {
    const sku_series: Series = { available: [], on_hold: [], true_left: [] };
    series[plan.sku] = sku_series;
    return { plan, sku_series };
  });

  // Nothing changes in a second with no event and no deadline, so such a second is neither sent to
  // the store nor sampled: its sample repeats the previous one (exact, and much faster).
  const deadlines = new Set<number>([end_s]);
  let done = 0;
  let counters = await strategy.counters(hot_skus);
  for (let second = 0; second <= end_s; second++) {
    options.signal?.throwIfAborted();
    const now = events.get(second) ?? [];
    if (now.length > 0 || deadlines.has(second)) {
      await strategy.advanceTo(SALE_START_MS + second * 1000);
      await runLimited(now, options.concurrency, async (event) => {
        const deadline_s = await handle(strategy, script, tally, event);
        if (deadline_s !== null) deadlines.add(deadline_s);
        done += 1;
        options.on_progress?.(done, total);
      });
      counters = await strategy.counters(hot_skus);
    }
    time_s.push(second);
    for (const { plan, sku_series } of sampled) {
      const sample = counters[plan.sku] as StockCounters;
      sku_series.available.push(sample.available);
      sku_series.on_hold.push(sample.on_hold);
      sku_series.true_left.push(plan.stock - (tally.units_paid.get(plan.sku) ?? 0));
    }
  }
  return { time_s, series };
}

/**
 * Sends one event; answers the simulated second of the hold's deadline when it placed or moved one
 * (a checkout the store accepted, an extension), else null.
 */
async function handle(
  strategy: Strategy,
  script: ShopperScript,
  tally: Tally,
  event: Event,
): Promise<number | null> {
  const shopper = script.shoppers[event.shopper];
  const state = tally.states[event.shopper];
  assert(shopper !== undefined && state !== undefined, 'an event names a shopper of the script');
  const { counts } = tally;
  const { hold_seconds } = script.parameters;
  if (event.kind === 'checkout') {
    const answer = await strategy.checkout(shopper.id, shopper.lines);
    if (answer.ok) {
      state.order_id = answer.order_id;
      counts.accepted += 1;
      return shopper.arrival_s + hold_seconds;
    }
    counts.turned_away += 1;
    for (const sku of answer.short_skus) tally.turned_away.set(sku, (tally.turned_away.get(sku) ?? 0) + 1);
    return null;
  }
  if (state.order_id === null) return null; // turned away at checkout: nothing to pay, cancel or extend
  if (event.kind === 'extend') {
    // One extension of one more hold: the slow payment gets a second window.
    if (!(await strategy.extend(state.order_id, hold_seconds))) return null;
    counts.extended += 1;
    return shopper.arrival_s + 2 * hold_seconds;
  }
  if (shopper.intent === 'cancel') {
    await strategy.cancel(state.order_id);
    counts.cancelled += 1;
    return null;
  }
  await payFor(strategy, tally, shopper, state.order_id);
  return null;
}

async function payFor(strategy: Strategy, tally: Tally, shopper: Shopper, order_id: string): Promise<void> {
  const { counts } = tally;
  const answer = await strategy.pay(order_id, `payment-${shopper.id}`);
  if (!answer.ok) {
    counts.refused += 1;
    return;
  }
  counts.paid += 1;
  if (answer.late) counts.paid_late += 1;
  tally.paid_orders.push(shopper);
  for (const line of shopper.lines)
    tally.units_paid.set(line.sku, (tally.units_paid.get(line.sku) ?? 0) + line.quantity);
}

/**
 * Fulfilment, days later: the warehouse ships paid orders in the order they were paid while it has
 * every unit of the order; the rest are the cancellations Customer Service had to phone in.
 */
function cancelledForStock(plans: readonly SkuPlan[], paid_orders: readonly Shopper[]): number {
  const shelf = new Map(plans.map((plan) => [plan.sku, plan.stock]));
  let cancelled_for_stock = 0;
  for (const { lines } of paid_orders) {
    if (lines.every((line) => (shelf.get(line.sku) ?? 0) >= line.quantity)) {
      for (const line of lines) shelf.set(line.sku, (shelf.get(line.sku) ?? 0) - line.quantity);
    } else {
      cancelled_for_stock += 1;
    }
  }
  return cancelled_for_stock;
}

function skuOutcomes(plans: readonly SkuPlan[], tally: Tally, end: StrategyEnd): SkuOutcome[] {
  return plans.map((plan) => {
    const paid = tally.units_paid.get(plan.sku) ?? 0;
    const counters = end.counters[plan.sku];
    const min_available = end.min_available[plan.sku];
    assert(
      counters !== undefined && min_available !== undefined,
      `a strategy's finish() answers for every SKU it was given (${plan.sku})`,
    );
    return {
      sku: plan.sku,
      stock: plan.stock,
      units_paid: paid,
      oversold_units: Math.max(0, paid - plan.stock),
      recorded_left: counters.available + counters.on_hold,
      true_left: plan.stock - paid,
      min_available,
      turned_away: tally.turned_away.get(plan.sku) ?? 0,
    };
  });
}

function metricsOf(script: ShopperScript, tally: Tally, end: StrategyEnd, skus: SkuOutcome[]): Metrics {
  const hot_skus = new Set(script.skus.filter((plan) => plan.hot).map((plan) => plan.sku));
  const hot = skus.filter((outcome) => hot_skus.has(outcome.sku));
  const { counts } = tally;
  return {
    shoppers: script.shoppers.length,
    checkouts_accepted: counts.accepted,
    turned_away: counts.turned_away,
    paid: counts.paid,
    paid_late: counts.paid_late,
    extended_holds: counts.extended,
    payments_refused: counts.refused,
    cancelled_by_shopper: counts.cancelled,
    expired_holds: end.expired_holds,
    cancelled_for_stock: cancelledForStock(script.skus, tally.paid_orders),
    oversold_units: skus.reduce((sum, outcome) => sum + outcome.oversold_units, 0),
    min_stock: Math.min(...hot.map((outcome) => outcome.min_available)),
    miscounted_units: skus.reduce(
      (sum, outcome) => sum + Math.abs(outcome.recorded_left - outcome.true_left),
      0,
    ),
    unsold_while_turned_away: skus
      .filter((outcome) => outcome.turned_away > 0)
      .reduce((sum, outcome) => sum + Math.max(0, outcome.true_left), 0),
    audit_problems: end.audit_problems,
  };
}
