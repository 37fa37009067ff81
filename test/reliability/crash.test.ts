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
  /** Extensions answered 200, and the latest deadline one answered (issue 23). */
  extensions: number;
  expires_at?: string;
  /** What a partial capture answered as sold; absent when the whole order was paid. */
  sold_lines?: { sku: string; quantity: number }[];
  /** Returns answered 201 (restocked only: a write-off's unknown outcome would blur the stock total). */
  returns: number;
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
            acknowledged.set(response.body.id, {
              lines,
              state: 'held',
              hold_seconds,
              extensions: 0,
              returns: 0,
            });
            counters.acknowledged += 1;
          }
        } else if (roll < 0.6) {
          await returnSome(api, random, acknowledged, counters);
        } else {
          const [id, order] = pending[Math.floor(random() * pending.length)]!;
          await settle(api, random, id, order, `pay-${n}-${i}`, acknowledged, counters);
        }
      } catch {
        // The connection died with the server: the outcome of this request is unknown, which is fine.
        return;
      }
    }
  };
  await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));
}

type Api = ReturnType<typeof apiClient>;

/** Pays (a third of the time only part of the first line), extends or cancels a held order. */
async function settle(
  api: Api,
  random: () => number,
  id: string,
  order: Acknowledged,
  payment_id: string,
  acknowledged: Map<string, Acknowledged>,
  counters: { acknowledged: number },
): Promise<void> {
  const roll = random();
  if (roll < 0.6) {
    const first = order.lines[0];
    const partial = first !== undefined && first.quantity > 1 && random() < 0.33;
    const sold_lines = partial ? [{ sku: first.sku, quantity: first.quantity - 1 }] : undefined;
    const response = await api.post(`/v1/orders/${id}/payment`, {
      payment_id,
      ...(sold_lines && { lines: sold_lines }),
    });
    if (response.status === 200) {
      acknowledged.set(id, { ...order, state: 'paid', payment_id: response.body.payment_id, sold_lines });
      counters.acknowledged += 1;
    }
  } else if (roll < 0.85) {
    const response = await api.post(`/v1/orders/${id}/extension`, { seconds: 30 });
    if (response.status === 200) {
      acknowledged.set(id, {
        ...order,
        extensions: order.extensions + 1,
        expires_at: response.body.expires_at,
      });
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

/** Returns one unit of a paid order to available (restocked: the stock total stays). */
async function returnSome(
  api: Api,
  random: () => number,
  acknowledged: Map<string, Acknowledged>,
  counters: { acknowledged: number },
): Promise<void> {
  const paid = [...acknowledged].filter(([, order]) => order.state === 'paid');
  const picked = paid[Math.floor(random() * paid.length)];
  if (picked === undefined) return;
  const [id, order] = picked;
  const line = (order.sold_lines ?? order.lines)[0];
  if (line === undefined) return;
  const response = await api.post(`/v1/orders/${id}/returns`, {
    lines: [{ sku: line.sku, quantity: 1 }],
    restock: true,
  });
  if (response.status === 201) {
    acknowledged.set(id, { ...order, returns: order.returns + 1 });
    counters.acknowledged += 1;
  }
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
        // Extensions, partial captures and returns answered before the kill are all there.
        expect(order!.extensions ?? 0, `extensions of ${id}`).toBeGreaterThanOrEqual(expected.extensions);
        if (expected.expires_at !== undefined)
          expect(order!.expires_at_ms, `deadline of ${id}`).toBeGreaterThanOrEqual(
            Date.parse(expected.expires_at),
          );
        if (expected.sold_lines !== undefined) expect(order!.sold_lines).toEqual(expected.sold_lines);
        expect(order!.returns?.length ?? 0, `returns of ${id}`).toBeGreaterThanOrEqual(expected.returns);
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
