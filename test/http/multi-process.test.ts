// Three real server processes (`stockhold serve`) on one PostgreSQL database, as behind a load
// balancer: a flash sale spread across them sells exactly the stock there is, and payments, cancels,
// expiry (every process's sweeper) and lazy reclaim racing on the same orders leave each order in
// exactly one final state, with the ledger agreeing (the audit of `stockhold verify`).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openStore } from '../../src/store/open-store.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { type ApiResponse, apiClient } from '../support/server.ts';

const PROCESSES = 3;
const IN_FLIGHT_MAX = 200;

/** One `stockhold serve` of the several behind the (imagined) load balancer. */
function startProcess(database_url: string): Promise<ServeProcess> {
  return startServe({ DATABASE_URL: database_url, SWEEP_INTERVAL_MS: '50', PG_POOL_SIZE: '8' });
}

async function stopProcess(server: ServeProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** Runs `work` over every item with at most `limit` in flight. */
async function mapBounded<T, R>(
  items: readonly T[],
  limit: number,
  work: (item: T, index: number) => Promise<R>,
) {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const index = next++;
      results[index] = await work(items[index]!, index);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// Generous: on a loaded 2-core machine 2000 requests through 3 processes can take a minute.
describe(`${PROCESSES} server processes on one PostgreSQL database`, { timeout: 240_000 }, () => {
  let database: TestDatabase;
  let servers: ServeProcess[] = [];
  let apis: ReturnType<typeof apiClient>[] = [];
  const statuses: number[] = [];
  const api = (i: number) => {
    const client = apis[i % apis.length]!;
    const record = async <T>(answer: Promise<ApiResponse<T>>) => {
      const response = await answer;
      statuses.push(response.status);
      return response;
    };
    return {
      get: (path: string) => record(client.get(path)),
      post: (path: string, body?: unknown) => record(client.post(path, body)),
    };
  };
  const expectNo5xx = () => {
    const failures = statuses.filter((status) => status >= 500);
    if (failures.length > 0) {
      const logs = servers.flatMap((server) => server.output.filter((line) => /error|"level":50/.test(line)));
      throw new Error(`${failures.length} answers were 5xx:\n${logs.slice(0, 20).join('\n')}`);
    }
  };

  beforeAll(async () => {
    database = await createTestDatabase('stockhold_multi');
    // All three start (and migrate) at once: the migrator's lock lets exactly one create the schema.
    servers = await Promise.all(Array.from({ length: PROCESSES }, () => startProcess(database.url)));
    apis = servers.map((server) => apiClient(server.url));
  });
  afterAll(async () => {
    await Promise.all(servers.map(stopProcess));
    await database?.drop();
  });

  let held_ids: string[] = [];

  it('sells exactly 100 units of a 100-unit SKU to 2000 concurrent checkouts spread across them', async () => {
    expect((await api(0).post('/v1/skus', { sku: 'hot', available: 100 })).status).toBe(201);
    const answers = await mapBounded(Array.from({ length: 2000 }), IN_FLIGHT_MAX, (_, i) =>
      api(i).post('/v1/orders', { customer_id: `shopper-${i}`, lines: [{ sku: 'hot', quantity: 1 }] }),
    );
    expectNo5xx();
    const held = answers.filter((answer) => answer.status === 201);
    const refused = answers.filter((answer) => answer.status === 409);
    expect(held).toHaveLength(100);
    expect(refused).toHaveLength(1900);
    expect(new Set(refused.map((answer) => answer.body.error.code))).toEqual(new Set(['insufficient_stock']));
    held_ids = held.map((answer) => answer.body.id);
    for (let i = 0; i < PROCESSES; i++) {
      expect((await api(i).get('/v1/skus/hot')).body).toMatchObject({ available: 0, on_hold: 100, sold: 0 });
    }
  });

  it('races a payment and a cancel of each held order on different processes: exactly one wins', async () => {
    const answers = await mapBounded(held_ids, IN_FLIGHT_MAX, (id, i) =>
      Promise.all([
        api(i).post(`/v1/orders/${id}/payment`, { payment_id: `pay-${id}` }),
        api(i + 1).post(`/v1/orders/${id}/cancel`),
      ]),
    );
    expectNo5xx();
    let paid = 0;
    for (const [index, [payment, cancelled]] of answers.entries()) {
      const order = (await api(index).get(`/v1/orders/${held_ids[index]}`)).body;
      if (payment.status === 200) {
        expect(cancelled).toMatchObject({ status: 409, body: { error: { code: 'order_paid' } } });
        expect(order.status).toBe('paid');
        paid += 1;
      } else {
        expect(payment).toMatchObject({ status: 409, body: { error: { code: 'order_cancelled' } } });
        expect(cancelled.status).toBe(200);
        expect(order.status).toBe('cancelled');
      }
    }
    expect((await api(2).get('/v1/skus/hot')).body).toMatchObject({
      available: 100 - paid,
      on_hold: 0,
      sold: paid,
    });
  });

  it('races payments, cancels, every sweeper and lazy reclaim around the deadline: one final state each', async () => {
    // Two-line orders on two SKUs, so a lazy reclaim on one SKU must also lock the other.
    await api(0).post('/v1/skus', { sku: 'x', available: 150 });
    await api(1).post('/v1/skus', { sku: 'y', available: 150 });
    const created = await mapBounded(Array.from({ length: 150 }), IN_FLIGHT_MAX, (_, i) =>
      api(i).post('/v1/orders', {
        customer_id: `late-${i}`,
        lines:
          i % 2 === 0
            ? [
                { sku: 'x', quantity: 1 },
                { sku: 'y', quantity: 1 },
              ]
            : [
                { sku: 'y', quantity: 1 },
                { sku: 'x', quantity: 1 },
              ],
        hold_seconds: 1,
      }),
    );
    expect(created.every((answer) => answer.status === 201)).toBe(true);
    const ids = created.map((answer) => answer.body.id as string);
    const deadline_ms = Date.parse(created[0]!.body.expires_at);

    // Every order gets a payment and a cancel, each sent at a random moment within 400 ms of the
    // deadline, from different processes, while new checkouts of x and of y reclaim expired holds.
    const spread = async <T>(work: () => Promise<T>) => {
      await sleep(Math.max(0, deadline_ms - 400 + Math.random() * 800 - Date.now()));
      return work();
    };
    const [payments, cancels, reclaims] = await Promise.all([
      mapBounded(ids, IN_FLIGHT_MAX, (id, i) =>
        spread(() => api(i).post(`/v1/orders/${id}/payment`, { payment_id: `pay-${id}` })),
      ),
      mapBounded(ids, IN_FLIGHT_MAX, (id, i) => spread(() => api(i + 2).post(`/v1/orders/${id}/cancel`))),
      mapBounded(Array.from({ length: 100 }), IN_FLIGHT_MAX, (_, i) =>
        spread(() =>
          api(i).post('/v1/orders', {
            customer_id: `reclaimer-${i}`,
            lines: [{ sku: i % 2 === 0 ? 'x' : 'y', quantity: 1 }],
          }),
        ),
      ),
    ]);
    expectNo5xx();
    expect(reclaims.every((answer) => answer.status === 201 || answer.status === 409)).toBe(true);

    // Let every sweeper finish what is due, then read the final state of every order.
    await sleep(Math.max(0, deadline_ms + 500 - Date.now()));
    const counts = { paid: 0, cancelled: 0, expired: 0 };
    for (const [i, id] of ids.entries()) {
      const order = (await api(i).get(`/v1/orders/${id}`)).body;
      const payment = payments[i]!;
      const cancel = cancels[i]!;
      expect(payment.status === 200 && cancel.status === 200).toBe(false);
      if (payment.status === 200) expect(order.status).toBe('paid');
      else if (cancel.status === 200) expect(order.status).toBe('cancelled');
      else expect(order.status).toBe('expired');
      if (payment.status !== 200) {
        expect(['order_cancelled', 'order_expired']).toContain(payment.body.error.code);
      }
      counts[order.status as keyof typeof counts] += 1;
    }
    expect(counts.paid + counts.cancelled + counts.expired).toBe(150);

    for (const sku of ['x', 'y']) {
      const state = (await api(0).get(`/v1/skus/${sku}`)).body;
      expect(state.available + state.on_hold + state.sold).toBe(150);
      expect(state.sold).toBe(counts.paid);
      expect(state.on_hold).toBe(
        reclaims.filter((answer, i) => answer.status === 201 && (i % 2 === 0 ? 'x' : 'y') === sku).length,
      );
    }
  });

  it('leaves a database whose audit (what `stockhold verify` runs) agrees with the ledger', async () => {
    const store = await openStore(loadConfig({ DATABASE_URL: database.url }, undefined));
    try {
      const report = await store.audit();
      expect(report.problems).toEqual([]);
      expect(report.skus_checked).toBe(3);
    } finally {
      await store.close();
    }
  });
});
