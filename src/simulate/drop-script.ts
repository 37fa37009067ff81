// The shoppers of a drop: the flash sale's shopper script on its hot SKUs alone, with a seeded share
// of them scripts (bots) that arrive in the first milliseconds, retry at once and pay at once. The
// same shoppers run first-come and through the waiting room, so the two runs differ only by the queue.
import { assert } from '../core/errors.ts';
import {
  generateScript,
  type Shopper,
  type SimulationParameters,
  type SkuPlan,
  seededRandom,
} from './script.ts';

export interface DropParameters {
  /** Share of the shoppers that are scripts. */
  script_share: number;
  /** Tickets admitted per second, in total (docs/drops.md). */
  admission_per_second: number;
  /** How long an admission lasts before its checkout. */
  admission_seconds: number;
}

/**
 * A queue that admits the sale's stock in about ten seconds, and an admission long enough for a
 * human's think time and poll interval: the run stays short and no admission lapses by accident.
 */
export const DEFAULT_DROP_PARAMETERS: DropParameters = Object.freeze({
  script_share: 0.1,
  admission_per_second: 20,
  admission_seconds: 30,
});

/** The simulated timing of shoppers, in milliseconds; fixed, so runs compare. */
export const DROP_TIMING = Object.freeze({
  /** The waiting room opens this long before the sale starts: tickets taken then are shuffled. */
  open_before_start_ms: 2000,
  /** Scripts arrive within this long of the opening (first-come: of 00:00). */
  script_arrival_ms_max: 50,
  /** A human's think time before a checkout: from 00:00 (first-come) or from seeing the admission. */
  human_think_ms_min: 1000,
  human_think_ms_max: 5000,
  /**
   * How often a waiting page polls its ticket until the ticket says (poll_after_seconds, 2..30 s,
   * sooner as its turn nears); a script polls far faster, whatever the ticket says.
   */
  human_poll_ms: 2000,
  script_poll_ms: 100,
  /** A script's retry after a refusal: at once, the runner's next step (10 ms). */
  script_retry_ms: 10,
  /** A script pays this long after its hold. */
  script_pay_delay_s: 1,
});

export interface DropShopper extends Shopper {
  script: boolean;
  /** Milliseconds after 00:00 at which a first-come checkout is sent. */
  first_come_ms: number;
  /** Milliseconds after the waiting room opens at which the ticket is taken. */
  ticket_ms: number;
  /** Milliseconds between seeing an admission and checking out (0 for a script). */
  reaction_ms: number;
  /** Milliseconds after the sale's start of the page's first poll (its phase). */
  poll_phase_ms: number;
  poll_interval_ms: number;
}

export interface DropScript {
  parameters: SimulationParameters;
  drop: DropParameters;
  /** The drop's SKUs: the sale's hot SKUs. */
  skus: SkuPlan[];
  shoppers: DropShopper[];
}

/** Mixed into the seed for the drop's own random stream: the sale's shoppers stay what they were. */
const DROP_STREAM = 0xd2_0b_5e_ed;

export function validateDropParameters(drop: DropParameters): string[] {
  const problems: string[] = [];
  if (!Number.isFinite(drop.script_share) || drop.script_share < 0 || drop.script_share > 1)
    problems.push(`script_share must be a share in 0..1 (got ${drop.script_share})`);
  if (
    !Number.isInteger(drop.admission_per_second) ||
    drop.admission_per_second < 1 ||
    drop.admission_per_second > 10_000
  )
    problems.push(`admission_per_second must be an integer in 1..10000 (got ${drop.admission_per_second})`);
  if (
    !Number.isInteger(drop.admission_seconds) ||
    drop.admission_seconds < 10 ||
    drop.admission_seconds > 86_400
  )
    problems.push(`admission_seconds must be an integer in 10..86400 (got ${drop.admission_seconds})`);
  return problems;
}

/** Exactly round(share × count) indexes, chosen by a seeded partial shuffle. */
function scriptIndexes(random: () => number, count: number, share: number): Set<number> {
  const indexes = Array.from({ length: count }, (_, index) => index);
  const chosen = Math.round(share * count);
  for (let index = 0; index < chosen; index++) {
    const other = index + Math.floor(random() * (count - index));
    [indexes[index], indexes[other]] = [indexes[other] as number, indexes[index] as number];
  }
  return new Set(indexes.slice(0, chosen));
}

const between = (random: () => number, low: number, high: number) =>
  low + Math.floor(random() * (high - low + 1));

function asScript(shopper: Shopper, random: () => number): DropShopper {
  const arrival_ms = between(random, 0, DROP_TIMING.script_arrival_ms_max - 1);
  return {
    ...shopper,
    // A script buys to resell: it pays at once, and never asks for more time.
    intent: 'pay',
    action_delay_s: DROP_TIMING.script_pay_delay_s,
    extend_delay_s: null,
    script: true,
    first_come_ms: arrival_ms,
    ticket_ms: arrival_ms,
    reaction_ms: 0,
    poll_phase_ms: between(random, 0, DROP_TIMING.script_poll_ms - 1),
    poll_interval_ms: DROP_TIMING.script_poll_ms,
  };
}

function asHuman(shopper: Shopper, random: () => number): DropShopper {
  return {
    ...shopper,
    // A drop's page has no "more time" button: slow payers pay late, as they would.
    extend_delay_s: null,
    script: false,
    first_come_ms: between(random, DROP_TIMING.human_think_ms_min, DROP_TIMING.human_think_ms_max),
    ticket_ms: between(random, 0, DROP_TIMING.open_before_start_ms - 1),
    reaction_ms: between(random, DROP_TIMING.human_think_ms_min, DROP_TIMING.human_think_ms_max),
    poll_phase_ms: between(random, 0, DROP_TIMING.human_poll_ms - 1),
    poll_interval_ms: DROP_TIMING.human_poll_ms,
  };
}

/**
 * The drop's shoppers for `parameters` (the hot SKUs alone: every shopper wants the drop) and the
 * drop's own parameters; a pure function of both.
 */
export function generateDropScript(parameters: SimulationParameters, drop: DropParameters): DropScript {
  const problems = validateDropParameters(drop);
  if (problems.length > 0) throw new RangeError(problems.join('; '));
  const sale = generateScript({ ...parameters, skus: parameters.hot_skus });
  assert(
    sale.skus.every((plan) => plan.hot),
    'a sale of hot SKUs alone has no other SKU',
  );
  const random = seededRandom(parameters.seed ^ DROP_STREAM);
  const scripts = scriptIndexes(random, sale.shoppers.length, drop.script_share);
  const shoppers = sale.shoppers.map((shopper, index) =>
    scripts.has(index) ? asScript(shopper, random) : asHuman(shopper, random),
  );
  return { parameters: sale.parameters, drop, skus: sale.skus, shoppers };
}
