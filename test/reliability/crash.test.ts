// Crash recovery: the real server as a child process (`node bin/stockhold.mjs serve`), driven by
// concurrent clients and killed with SIGKILL at random moments, then started again on the same
// database. After every kill: every answer given with success is there (orders with their lines,
// payments still paid with their payment_id, cancels still cancelled), the stock equals what was
// created and restocked, and the ledger recomputes every bucket (verify's checks). At the end, holds
// taken before the last kill expire after the restart, and `stockhold verify` exits 0.
import { rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { apiClient, temporarySqliteUrl } from '../support/server.ts';
import { envCount, expectVerified, expectVerifiedByCli, reportFigure, seededRandom } from './support.ts';

const SKUS = ['k1', 'k2', 'k3'];
const CLIENTS = 8;
const START_TIMEOUT_MS = 120_000;

interface Acknowledged {
  lines: { sku: string; quantity: number }[];
  state: 'held' | 'paid' | 'cancelled';
  payment_id?: string;
  hold_seconds: number;
}

/** The server under test: SIGKILLed and started again on the same database. */
function startChild(database_url: string): Promise<ServeProcess> {
  return startServe(
    { DATABASE_URL: database_url, HOST: '127.0.0.1', SWEEP_INTERVAL_MS: '50' },
    START_TIMEOUT_MS,
  );
}

function killHard(server: ServeProcess): Promise<void> {
  return new Promise((resolve) => {
    if (server.child.exitCode !== null || server.child.signalCode !== null) return resolve();
    server.child.once('exit', () => resolve());
    server.child.kill('SIGKILL');
  });
}

/** Checkouts, payments and cancels from several clients until the server dies under them. */
async function driveLoad(
  url: string,
  random: () => number,
  acknowledged: Map<string, Acknowledged>,
  stop: { dead: boolean },
  counters: { requests: number; acknowledged: number },
): Promise<void> {
  const api = apiClient(url);
  const held = () => [...acknowledged].filter(([, order]) => order.state === 'held');
  const client = async (n: number) => {
    for (let i = 0; !stop.dead; i++) {
      const roll = random();
      try {
        counters.requests += 1;
        const pending = held();
        if (roll < 0.5 || pending.length === 0) {
          const lines = [
            { sku: SKUS[Math.floor(random() * SKUS.length)]!, quantity: 1 + Math.floor(random() * 3) },
          ];
          if (random() < 0.3) lines.push({ sku: SKUS[Math.floor(random() * SKUS.length)]!, quantity: 1 });
          // Some holds are short, so they expire while the server is down or after it restarts.
          const hold_seconds = random() < 0.3 ? 1 : 600;
          const response = await api.post('/v1/orders', { customer_id: `c${n}`, lines, hold_seconds });
          if (response.status === 201) {
            acknowledged.set(response.body.id, { lines, state: 'held', hold_seconds });
            counters.acknowledged += 1;
          }
        } else {
          const [id, order] = pending[Math.floor(random() * pending.length)]!;
          if (roll < 0.85) {
            const payment_id = `pay-${n}-${i}`;
            const response = await api.post(`/v1/orders/${id}/payment`, { payment_id });
            if (response.status === 200) {
              acknowledged.set(id, { ...order, state: 'paid', payment_id: response.body.payment_id });
              counters.acknowledged += 1;
            }
          } else {
            const response = await api.post(`/v1/orders/${id}/cancel`);
            if (response.status === 200) {
              acknowledged.set(id, { ...order, state: 'cancelled' });
              counters.acknowledged += 1;
            }
          }
        }
      } catch {
        // The connection died with the server: the outcome of this request is unknown, which is fine.
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
}

async function crashCycles(database_url: string, cycles: number, seed: number) {
  const random = seededRandom(seed);
  const acknowledged = new Map<string, Acknowledged>();
  const counters = { requests: 0, acknowledged: 0 };
  const config = loadConfig({ DATABASE_URL: database_url, LOG_LEVEL: 'silent' }, undefined);
  let stock_total = 0;

  let server = await startChild(database_url);
  const api = () => apiClient(server.url);
  for (const sku of SKUS) {
    expect((await api().post('/v1/skus', { sku, available: 50 })).status).toBe(201);
    stock_total += 50;
  }
  for (let cycle = 0; cycle < cycles; cycle++) {
    // A restock, acknowledged before the load starts: the stock total is known exactly.
    const restock = await api().post(`/v1/skus/${SKUS[cycle % SKUS.length]}/adjustments`, { delta: 5 });
    expect(restock.status).toBe(200);
    stock_total += 5;

    const stop = { dead: false };
    const load = driveLoad(server.url, random, acknowledged, stop, counters);
    // The kill lands at a random moment of the load (mid-transaction, mid-fsync, mid-answer): after a
    // random number of acknowledged answers, so every cycle has something to lose, or a bounded time.
    const acknowledged_before = counters.acknowledged;
    const target = Math.floor(random() * 20);
    for (
      let waited_ms = 0;
      waited_ms < 5000 && counters.acknowledged - acknowledged_before < target;
      waited_ms += 5
    ) {
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, random() * 30));
    await killHard(server);
    stop.dead = true;
    await load;

    // The database after the crash, read directly: nothing acknowledged is lost, nothing is off.
    const store = await openMigratedStore(config);
    try {
      for (const [id, expected] of acknowledged) {
        const order = await store.getOrder(id);
        expect(order, `acknowledged order ${id}`).not.toBeNull();
        expect(order!.lines).toEqual(expected.lines);
        if (expected.state === 'paid')
          expect(order).toMatchObject({ status: 'paid', payment_id: expected.payment_id });
        if (expected.state === 'cancelled') expect(order!.status).toBe('cancelled');
        // The answer a client saw can only move forward: a held order may since be paid, cancelled, expired.
        if (order!.status !== 'pending_payment') {
          acknowledged.set(id, {
            ...expected,
            state: order!.status === 'paid' ? 'paid' : 'cancelled',
            payment_id: order!.payment_id ?? undefined,
          });
          if (order!.status === 'expired') acknowledged.delete(id);
        }
      }
      let total = 0;
      for (const sku of SKUS) {
        const row = (await store.getSku(sku))!;
        total += row.available + row.on_hold + row.sold;
      }
      expect(total).toBe(stock_total);
      await expectVerified(store);
    } finally {
      await store.close();
    }
    server = await startChild(database_url);
  }

  // Holds taken before the last kill still expire after the restart (deadlines live in the database).
  const short_ms = 1500;
  const started_ms = Date.now();
  const pending_short = async () => {
    const page = await api().get('/v1/orders?status=pending_payment&limit=500');
    return (page.body.items as { expires_at: string }[]).filter(
      (order) => Date.parse(order.expires_at) <= started_ms + short_ms,
    );
  };
  // Bounded wait for a real sweeper on a real clock (a child process cannot share a ManualClock).
  for (let attempt = 0; attempt < 100 && (await pending_short()).length > 0; attempt++) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  expect(await pending_short()).toEqual([]);
  server.child.kill('SIGTERM');
  await new Promise((resolve) => server.child.once('exit', resolve));
  await expectVerifiedByCli(database_url);
  return counters;
}

// The two databases run side by side: a restart is mostly the child's start-up, not CPU of this process.
describe.concurrent('crash recovery: kill -9 the real server under load, restart on the same database', () => {
  const seed = envCount('STOCKHOLD_CRASH_SEED', Math.floor(Math.random() * 2 ** 31));

  it(`loses nothing acknowledged on SQLite (seed ${seed})`, async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      const cycles = envCount('STOCKHOLD_CRASH_CYCLES', 20);
      const counters = await crashCycles(url, cycles, seed);
      reportFigure('crashes survived on SQLite', cycles);
      reportFigure(
        'requests during crash runs on SQLite',
        `${counters.requests} sent, ${counters.acknowledged} acknowledged`,
      );
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  }, 1_800_000);

  it(`loses nothing acknowledged on PostgreSQL (seed ${seed})`, async () => {
    const database = await createTestDatabase('stockhold_crash');
    try {
      const cycles = envCount('STOCKHOLD_CRASH_PG_CYCLES', 10);
      const counters = await crashCycles(database.url, cycles, seed + 1);
      reportFigure('crashes survived on PostgreSQL', cycles);
      reportFigure(
        'requests during crash runs on PostgreSQL',
        `${counters.requests} sent, ${counters.acknowledged} acknowledged`,
      );
    } finally {
      await database.drop();
    }
  }, 1_800_000);
});
