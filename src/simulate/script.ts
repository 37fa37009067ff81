// The shopper script of a 12.12 flash sale: who arrives when, buys what, and pays, abandons or
// cancels when. Generated from a seed alone, so both strategies (and a rerun) replay the same sale.
import { assert } from '../core/errors.ts';

export interface SimulationParameters {
  seed: number;
  shoppers: number;
  skus: number;
  /** The first `hot_skus` SKUs are the flash-sale items: small stock, most of the demand. */
  hot_skus: number;
  hot_stock: number;
  cold_stock: number;
  /** Share of shoppers who want a hot SKU. */
  hot_demand_share: number;
  /** Share of shoppers who arrive in the first second of the sale (00:00:00). */
  burst_share: number;
  /** Mean of the exponential arrival time of everyone else. */
  arrival_mean_seconds: number;
  /** How long stockhold holds stock for a payment (the payment deadline). */
  hold_seconds: number;
  abandon_share: number;
  cancel_share: number;
  /** Share of shoppers who pay, but only after their deadline. */
  late_share: number;
  /** Median of the log-normal delay between checkout and payment of on-time payers. */
  payment_median_seconds: number;
  /**
   * Share of the slow payers (those who pay after their deadline) who, as the deadline nears, ask
   * once for more time: stockhold extends the hold by hold_seconds (issue 23).
   */
  extend_share: number;
}

export const DEFAULT_PARAMETERS: SimulationParameters = Object.freeze({
  seed: 1212,
  shoppers: 2000,
  skus: 20,
  hot_skus: 3,
  hot_stock: 60,
  cold_stock: 300,
  hot_demand_share: 0.7,
  burst_share: 0.5,
  arrival_mean_seconds: 120,
  hold_seconds: 300,
  abandon_share: 0.3,
  cancel_share: 0.05,
  late_share: 0.08,
  payment_median_seconds: 40,
  extend_share: 0.5,
});

/** Bounds of the parameters, so a typo cannot start a run that never ends. */
export const PARAMETER_LIMITS = Object.freeze({
  shoppers_max: 200_000,
  skus_max: 1000,
  stock_max: 1_000_000,
  hold_seconds_max: 3600,
  arrival_mean_seconds_max: 3600,
});

export interface SkuPlan {
  sku: string;
  hot: boolean;
  stock: number;
}

export interface ScriptLine {
  sku: string;
  quantity: number;
}

export type Intent = 'pay' | 'pay_late' | 'abandon' | 'cancel';

export interface Shopper {
  id: string;
  /** Seconds after 00:00 at which the shopper checks out. */
  arrival_s: number;
  lines: ScriptLine[];
  intent: Intent;
  /** Seconds after checkout at which the shopper pays or cancels (null when abandoning). */
  action_delay_s: number | null;
  /** Seconds after checkout at which a slow payer asks once for more time (null: never). */
  extend_delay_s: number | null;
}

export interface ShopperScript {
  parameters: SimulationParameters;
  skus: SkuPlan[];
  shoppers: Shopper[];
}

/** mulberry32: a small, fast, well-mixed 32-bit PRNG; the same seed gives the same sequence. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let mixed = state;
    mixed = Math.imul(mixed ^ (mixed >>> 15), mixed | 1);
    mixed ^= mixed + Math.imul(mixed ^ (mixed >>> 7), mixed | 61);
    return ((mixed ^ (mixed >>> 14)) >>> 0) / 4_294_967_296;
  };
}

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  assert(item !== undefined, 'pick() is given a non-empty list (random() is below 1)');
  return item;
}

/** Box-Muller: a standard normal draw from two uniform ones. */
function normal(random: () => number): number {
  const u = 1 - random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
}

export function validateParameters(parameters: SimulationParameters): string[] {
  const problems: string[] = [];
  const integer = (name: keyof SimulationParameters, min: number, max: number) => {
    const value = parameters[name];
    if (!Number.isInteger(value) || value < min || value > max)
      problems.push(`${name} must be an integer in ${min}..${max} (got ${value})`);
  };
  const share = (name: keyof SimulationParameters) => {
    const value = parameters[name];
    if (!Number.isFinite(value) || value < 0 || value > 1)
      problems.push(`${name} must be a share in 0..1 (got ${value})`);
  };
  integer('seed', 0, 2 ** 32 - 1);
  integer('shoppers', 1, PARAMETER_LIMITS.shoppers_max);
  integer('skus', 1, PARAMETER_LIMITS.skus_max);
  integer('hot_skus', 1, parameters.skus);
  integer('hot_stock', 1, PARAMETER_LIMITS.stock_max);
  integer('cold_stock', 1, PARAMETER_LIMITS.stock_max);
  integer('hold_seconds', 10, PARAMETER_LIMITS.hold_seconds_max);
  integer('arrival_mean_seconds', 1, PARAMETER_LIMITS.arrival_mean_seconds_max);
  integer('payment_median_seconds', 1, PARAMETER_LIMITS.hold_seconds_max);
  for (const name of [
    'hot_demand_share',
    'burst_share',
    'abandon_share',
    'cancel_share',
    'late_share',
    'extend_share',
  ] as const)
    share(name);
  if (parameters.abandon_share + parameters.cancel_share + parameters.late_share > 1)
    problems.push('abandon_share + cancel_share + late_share must not exceed 1');
  return problems;
}

/** Mixed into the seed for the extensions' own random stream. */
const EXTEND_STREAM = 0x5eed_e47e;

/** When a slow payer asks for more time: in the last fifth of the hold, or never (1 - extend_share). */
function extendDelay(random: () => number, parameters: SimulationParameters): number | null {
  const asks = random() < parameters.extend_share;
  const before_deadline_s = 1 + Math.floor(random() * Math.max(1, Math.floor(parameters.hold_seconds / 5)));
  return asks ? parameters.hold_seconds - before_deadline_s : null;
}

export function generateScript(parameters: SimulationParameters): ShopperScript {
  const problems = validateParameters(parameters);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
  const random = seededRandom(parameters.seed);
  // The extensions draw from a stream of their own: the rest of a seed's sale stays what it was.
  const extend_random = seededRandom(parameters.seed ^ EXTEND_STREAM);
  const skus: SkuPlan[] = [];
  for (let index = 0; index < parameters.skus; index++) {
    const hot = index < parameters.hot_skus;
    const number = String(index + 1).padStart(2, '0');
    skus.push({
      sku: hot ? `HOT-${number}` : `SKU-${number}`,
      hot,
      stock: hot ? parameters.hot_stock : parameters.cold_stock,
    });
  }
  const hot = skus.filter((sku) => sku.hot);
  const cold = skus.filter((sku) => !sku.hot);
  // Arrivals are capped so one unlucky draw cannot stretch the sale (and the run) without end.
  const arrival_max_s = parameters.arrival_mean_seconds * 8;
  const shoppers: Shopper[] = [];
  for (let index = 0; index < parameters.shoppers; index++) {
    const arrival_s =
      random() < parameters.burst_share
        ? 0
        : Math.min(arrival_max_s, Math.ceil(-Math.log(1 - random()) * parameters.arrival_mean_seconds));
    const wants_hot = cold.length === 0 || random() < parameters.hot_demand_share;
    const first = wants_hot ? pick(random, hot) : pick(random, cold);
    // Most buy one unit of one item; some take two units, some add a second (other) item.
    const lines: ScriptLine[] = [{ sku: first.sku, quantity: random() < 0.85 ? 1 : 2 }];
    if (random() < 0.2) {
      const second = pick(random, skus);
      if (second.sku !== first.sku) lines.push({ sku: second.sku, quantity: 1 });
    }
    const draw = random();
    let intent: Intent;
    let action_delay_s: number | null;
    if (draw < parameters.abandon_share) {
      intent = 'abandon';
      action_delay_s = null;
    } else if (draw < parameters.abandon_share + parameters.cancel_share) {
      intent = 'cancel';
      action_delay_s = 1 + Math.floor(random() * (parameters.hold_seconds - 1));
    } else if (draw < parameters.abandon_share + parameters.cancel_share + parameters.late_share) {
      intent = 'pay_late';
      action_delay_s = parameters.hold_seconds + 1 + Math.floor(random() * parameters.hold_seconds);
    } else {
      intent = 'pay';
      // Log-normal (sigma 0.8): most pay within a minute or two, a long tail takes longer; those who
      // pay in time pay before the deadline by construction, the late ones are drawn above.
      const delay = Math.round(parameters.payment_median_seconds * Math.exp(0.8 * normal(random)));
      action_delay_s = Math.max(1, Math.min(parameters.hold_seconds - 1, delay));
    }
    shoppers.push({
      id: `shopper-${String(index + 1).padStart(6, '0')}`,
      arrival_s,
      lines,
      intent,
      action_delay_s,
      extend_delay_s: intent === 'pay_late' ? extendDelay(extend_random, parameters) : null,
    });
  }
  return { parameters, skus, shoppers };
}
