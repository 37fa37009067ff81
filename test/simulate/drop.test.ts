// A drop with scripts among its shoppers: first-come, the scripts take far more than their share of
// the units; through the waiting room, close to their share of the shoppers. Neither oversells.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { scriptShareOfUnits } from '../../src/simulate/drop-report.ts';
import type { DropRun } from '../../src/simulate/drop-runner.ts';
import {
  DEFAULT_DROP_PARAMETERS,
  DROP_TIMING,
  type DropParameters,
  generateDropScript,
} from '../../src/simulate/drop-script.ts';
import type { SimulationParameters } from '../../src/simulate/script.ts';
import { type DropSimulationResult, simulateDrop } from '../../src/simulate/simulation.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { SIMULATION_TIMEOUT_MS, SMALL_SALE } from './support.ts';

/**
 * Demand far above the stock, and enough tickets admitted (~280) that the random line gives the
 * scripts their share of them give or take 3 points (one standard deviation).
 */
const SMALL_DROP: SimulationParameters = { ...SMALL_SALE, shoppers: 600, hot_stock: 50 };
const SMALL_DROP_QUEUE: DropParameters = { ...DEFAULT_DROP_PARAMETERS, script_share: 0.2 };

const CONCURRENCY = 100;

function runOf(result: DropSimulationResult, mode: DropRun['mode']): DropRun {
  const run = result.runs.find((each) => each.mode === mode);
  expect(run, mode).toBeDefined();
  return run as DropRun;
}

const shareOf = (part: number, whole: number) => (whole === 0 ? 0 : part / whole);

/** What both databases must show of the same small drop. */
function expectDropOutcomes(result: DropSimulationResult): void {
  const first_come = runOf(result, 'first_come');
  const waiting_room = runOf(result, 'waiting_room');
  const share_of_shoppers = SMALL_DROP_QUEUE.script_share;
  for (const run of [first_come, waiting_room]) {
    const { metrics } = run;
    expect(metrics.scripts / metrics.shoppers, run.mode).toBe(share_of_shoppers);
    expect(metrics.oversold_units, run.mode).toBe(0);
    expect(metrics.miscounted_units, run.mode).toBe(0);
    expect(metrics.audit_problems, run.mode).toEqual([]);
    expect(metrics.units_sold + metrics.units_left_unsold, run.mode).toBe(metrics.stock);
    // Demand is far above the stock: both runs sell nearly all of it.
    expect(metrics.units_sold, run.mode).toBeGreaterThan(metrics.stock * 0.9);
  }
  // First-come: the scripts, there in the first milliseconds, take nearly everything.
  expect(shareOf(first_come.metrics.units_held_by_scripts, first_come.metrics.units_held)).toBeGreaterThan(
    0.8,
  );
  expect(scriptShareOfUnits(first_come.metrics)).toBeGreaterThan(0.8);
  expect(first_come.metrics.admitted).toBeNull();
  expect(first_come.metrics.time_to_admission).toBeNull();
  // The waiting room's line is random: the scripts get their share of the admissions.
  const admitted = waiting_room.metrics.admitted ?? { scripts: 0, humans: 0 };
  const admitted_share = shareOf(admitted.scripts, admitted.scripts + admitted.humans);
  expect(admitted_share).toBeGreaterThan(share_of_shoppers - 0.1);
  expect(admitted_share).toBeLessThan(share_of_shoppers + 0.1);
  // ...and far fewer units than first-come.
  expect(scriptShareOfUnits(waiting_room.metrics)).toBeLessThan(
    (scriptShareOfUnits(first_come.metrics) ?? 1) - 0.25,
  );
  expect(waiting_room.metrics.buyers.humans).toBeGreaterThan(0);
  const admission = waiting_room.metrics.time_to_admission;
  expect(admission).not.toBeNull();
  expect(admission?.p50_ms).toBeGreaterThanOrEqual(0);
  expect(admission?.p99_ms).toBeGreaterThanOrEqual(admission?.p50_ms ?? 0);
  // Every shopper took one ticket; none is left waiting for nothing.
  const tickets = waiting_room.metrics.tickets ?? {};
  expect(Object.values(tickets).reduce((sum, count) => sum + count, 0)).toBe(SMALL_DROP.shoppers);
  expect(tickets.waiting ?? 0).toBe(0);
}

describe('the shoppers of a drop', () => {
  it('are the same for the same seed, with exactly the share of scripts asked for', () => {
    const script = generateDropScript(SMALL_DROP, SMALL_DROP_QUEUE);
    expect(generateDropScript({ ...SMALL_DROP }, { ...SMALL_DROP_QUEUE })).toEqual(script);
    const scripts = script.shoppers.filter((shopper) => shopper.script);
    expect(scripts).toHaveLength(Math.round(SMALL_DROP.shoppers * SMALL_DROP_QUEUE.script_share));
    const other_seed = generateDropScript({ ...SMALL_DROP, seed: SMALL_DROP.seed + 1 }, SMALL_DROP_QUEUE);
    expect(other_seed.shoppers.map((shopper) => shopper.script)).not.toEqual(
      script.shoppers.map((shopper) => shopper.script),
    );
  });

  it('want only the drop: the hot SKUs of the sale', () => {
    const script = generateDropScript(SMALL_DROP, SMALL_DROP_QUEUE);
    const skus = new Set(script.skus.map((plan) => plan.sku));
    expect([...skus]).toEqual(['HOT-01', 'HOT-02']);
    for (const shopper of script.shoppers)
      for (const line of shopper.lines) expect(skus.has(line.sku)).toBe(true);
  });

  it('has scripts arrive in the first milliseconds and pay at once, humans think for seconds', () => {
    const { shoppers } = generateDropScript(SMALL_DROP, SMALL_DROP_QUEUE);
    for (const shopper of shoppers) {
      if (shopper.script) {
        expect(shopper.first_come_ms).toBeLessThan(DROP_TIMING.script_arrival_ms_max);
        expect(shopper.ticket_ms).toBeLessThan(DROP_TIMING.script_arrival_ms_max);
        expect(shopper.reaction_ms).toBe(0);
        expect(shopper.intent).toBe('pay');
        expect(shopper.poll_interval_ms).toBe(DROP_TIMING.script_poll_ms);
      } else {
        expect(shopper.first_come_ms).toBeGreaterThanOrEqual(DROP_TIMING.human_think_ms_min);
        expect(shopper.reaction_ms).toBeGreaterThanOrEqual(DROP_TIMING.human_think_ms_min);
        expect(shopper.ticket_ms).toBeLessThan(DROP_TIMING.open_before_start_ms);
        expect(shopper.poll_interval_ms).toBe(DROP_TIMING.human_poll_ms);
      }
    }
  });

  it('refuses drop parameters out of range, naming them', () => {
    expect(() =>
      generateDropScript(SMALL_DROP, { script_share: 1.5, admission_per_second: 0, admission_seconds: 5 }),
    ).toThrow(
      'script_share must be a share in 0..1 (got 1.5); admission_per_second must be an integer in 1..10000 (got 0); ' +
        'admission_seconds must be an integer in 10..86400 (got 5)',
    );
  });
});

describe('a drop with scripts on SQLite', () => {
  let result: DropSimulationResult;
  beforeAll(async () => {
    result = await simulateDrop({ parameters: SMALL_DROP, drop: SMALL_DROP_QUEUE, concurrency: CONCURRENCY });
  }, SIMULATION_TIMEOUT_MS);

  it('gives the scripts nearly every unit first-come, their share of the line in the waiting room, and never oversells', () => {
    expect(result.database).toBe('sqlite');
    expect(result.runs.map((run) => run.mode)).toEqual(['first_come', 'waiting_room']);
    expectDropOutcomes(result);
  });

  // The admitter admits only for units beyond one per open admission (planAdmission): without that
  // bound a returned unit, or the last ones of the first wave, went to whichever admitted shopper
  // checked out first, a script, and the scripts held about 45% of the units for 20% of the shoppers.
  it('gives the scripts about their share of the shoppers of the units held at checkout', () => {
    const { metrics } = runOf(result, 'waiting_room');
    const held_share = shareOf(metrics.units_held_by_scripts, metrics.units_held);
    expect(held_share).toBeGreaterThan(SMALL_DROP_QUEUE.script_share - 0.1);
    expect(held_share).toBeLessThan(SMALL_DROP_QUEUE.script_share + 0.1);
  });
});

describe('a drop with scripts on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('stockhold_simulate_drop');
  });
  afterAll(() => database.drop());

  it('shows the same on PostgreSQL and leaves no schema behind', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const result = await simulateDrop({
      parameters: SMALL_DROP,
      drop: SMALL_DROP_QUEUE,
      database_url: database.url,
      concurrency: CONCURRENCY,
    });
    expect(result.database).toBe('postgres');
    expectDropOutcomes(result);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const schemas = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'simulate_%'`);
    await client.end();
    expect(schemas.rows).toEqual([]);
  });
});
