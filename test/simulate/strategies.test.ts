// The two strategies on the same small flash sale: the legacy store must show the 12.12 bug (if it
// stops, the demo proves nothing), stockhold must never oversell and its audit must stay exact.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LegacyStrategy, openLegacySqlite } from '../../src/simulate/legacy.ts';
import { runStrategy, SALE_START_MS } from '../../src/simulate/runner.ts';
import { generateScript } from '../../src/simulate/script.ts';
import { simulate } from '../../src/simulate/simulation.ts';
import { StockholdStrategy } from '../../src/simulate/stockhold.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { SIMULATION_TIMEOUT_MS, SMALL_SALE } from './support.ts';

const CONCURRENCY = 100;
const script = generateScript(SMALL_SALE);
const hot_skus = script.skus.filter((sku) => sku.hot).map((sku) => sku.sku);

describe('the legacy strategy on SQLite', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-test-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('loses updates when payments of one SKU race: the counter ends above what was really sold', async () => {
    const legacy = new LegacyStrategy(openLegacySqlite(join(directory, 'race.db')));
    try {
      await legacy.setup([{ sku: 'HOT-01', hot: true, stock: 100 }]);
      const orders: string[] = [];
      for (let index = 0; index < 40; index++) {
        const answer = await legacy.checkout(`shopper-${index}`, [{ sku: 'HOT-01', quantity: 1 }]);
        if (!answer.ok) throw new Error('legacy refused a checkout with stock left');
        orders.push(answer.order_id);
      }
      await Promise.all(orders.map((order_id) => legacy.pay(order_id)));
      const { available } = (await legacy.counters(['HOT-01']))['HOT-01']!;
      // 40 units were paid for; a correct counter would say 60.
      expect(available).toBeGreaterThan(60);
    } finally {
      await legacy.close();
    }
  });

  it('oversells the hot SKUs of a flash sale and drives their stock below zero', async () => {
    const legacy = new LegacyStrategy(openLegacySqlite(join(directory, 'sale.db')));
    await legacy.setup(script.skus);
    const run = await runStrategy(legacy, script, { concurrency: CONCURRENCY });
    await legacy.close();
    const { metrics } = run;
    expect(metrics.oversold_units).toBeGreaterThan(0);
    expect(metrics.cancelled_for_stock).toBeGreaterThan(0);
    expect(metrics.min_stock).toBeLessThan(0);
    expect(metrics.miscounted_units).toBeGreaterThan(0);
    for (const sku of hot_skus) {
      const outcome = run.skus.find((each) => each.sku === sku)!;
      expect(outcome.units_paid).toBeGreaterThan(outcome.stock);
    }
  });
});

/** A stockhold strategy on a new SQLite file, closed and removed after `use`. */
async function withStockholdOnSqlite(use: (strategy: StockholdStrategy) => Promise<void>): Promise<void> {
  const directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-test-'));
  const strategy = await StockholdStrategy.start({
    database_url: `sqlite:${join(directory, 'stockhold.db')}`,
    location: 'test',
    start_ms: SALE_START_MS,
    hold_seconds: SMALL_SALE.hold_seconds,
    sockets_max: CONCURRENCY,
  });
  try {
    await use(strategy);
  } finally {
    await strategy.close();
    rmSync(directory, { recursive: true, force: true });
  }
}

describe('the stockhold strategy on SQLite', () => {
  it('never oversells, ends with every invariant exact, and returns abandoned holds', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    await withStockholdOnSqlite(async (strategy) => {
      await strategy.setup(script.skus);
      const run = await runStrategy(strategy, script, { concurrency: CONCURRENCY });
      const { metrics } = run;
      expect(metrics.oversold_units).toBe(0);
      expect(metrics.cancelled_for_stock).toBe(0);
      expect(metrics.miscounted_units).toBe(0);
      expect(metrics.min_stock).toBe(0);
      expect(metrics.turned_away).toBeGreaterThan(0);
      expect(metrics.expired_holds).toBeGreaterThan(0);
      expect(metrics.audit_problems).toEqual([]);
      for (const series of Object.values(run.series))
        for (const value of [...series.available, ...series.on_hold]) expect(value).toBeGreaterThanOrEqual(0);
      for (const outcome of run.skus) expect(outcome.units_paid).toBeLessThanOrEqual(outcome.stock);
      await expectConservation(strategy.running.store);
    });
  });
});

describe('slow payers extending their holds on SQLite', () => {
  it('extends a hold once per slow payer who asks, before its deadline, and never oversells', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const sale = generateScript({ ...SMALL_SALE, extend_share: 1 });
    await withStockholdOnSqlite(async (strategy) => {
      await strategy.setup(sale.skus);
      const run = await runStrategy(strategy, sale, { concurrency: CONCURRENCY });
      const { metrics } = run;
      const orders = await strategy.running.store.listOrders({ limit: SMALL_SALE.shoppers });
      const extended = orders.filter((order) => (order.extensions ?? 0) > 0);
      expect(metrics.extended_holds).toBeGreaterThan(0);
      expect(extended).toHaveLength(metrics.extended_holds);
      for (const order of extended) {
        expect(order.extensions).toBe(1);
        // One more hold: the deadline doubled, never past the cap the simulated shop sets.
        expect(order.expires_at_ms - order.created_at_ms).toBe(2 * SMALL_SALE.hold_seconds * 1000);
      }
      // Every slow payer who got a hold asked (extend_share 1): all but those paying at the very deadline pay in time.
      const paid_in_time = extended.filter((order) => order.status === 'paid' && !order.late);
      expect(paid_in_time.length).toBeGreaterThan(0);
      expect(metrics.paid_late).toBeLessThan(metrics.extended_holds);
      expect(metrics.oversold_units).toBe(0);
      expect(metrics.min_stock).toBeGreaterThanOrEqual(0);
      expect(metrics.miscounted_units).toBe(0);
      expect(metrics.audit_problems).toEqual([]);
      await expectConservation(strategy.running.store);
    });
  });
});

describe('both strategies on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('stockhold_simulate');
  });
  afterAll(() => database.drop());

  it('legacy oversells under READ COMMITTED, stockhold does not, and the run leaves no schema behind', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const result = await simulate({
      parameters: SMALL_SALE,
      database_url: database.url,
      concurrency: CONCURRENCY,
    });
    const [legacy, fixed] = result.runs;
    expect(result.database).toBe('postgres');
    expect(legacy!.metrics.oversold_units).toBeGreaterThan(0);
    expect(legacy!.metrics.min_stock).toBeLessThan(0);
    expect(fixed!.metrics.oversold_units).toBe(0);
    expect(fixed!.metrics.min_stock).toBeGreaterThanOrEqual(0);
    expect(fixed!.metrics.miscounted_units).toBe(0);
    expect(fixed!.metrics.audit_problems).toEqual([]);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    const schemas = await client.query(`SELECT nspname FROM pg_namespace WHERE nspname LIKE 'simulate_%'`);
    // Nothing landed in the database's own schema either: the user's tables stay untouched.
    const tables = await client.query(`SELECT tablename FROM pg_tables WHERE schemaname = 'public'`);
    await client.end();
    expect(schemas.rows).toEqual([]);
    expect(tables.rows).toEqual([]);
  });
});
