// Concurrency history check: many HTTP clients against the real server (group commit, sweeper on, a
// real clock) check out, pay, cancel and restock a few SKUs at once; every request's invocation and
// response is recorded. Then the history is checked against the database: no unit sold twice, every
// acknowledged checkout is there exactly once with its lines and its stock accounted for, refused
// ones left nothing behind, every acknowledged payment or cancel moved stock exactly once, holds
// are in the ledger in an order consistent with real time, and the buckets match the ledger.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LedgerEntry } from '../../src/core/types.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { envCount, expectVerified, reportFigure, seededRandom } from './support.ts';

const SKUS = ['h1', 'h2', 'h3'];
const INITIAL = 25;
const CLIENTS = envCount('STOCKHOLD_HISTORY_CLIENTS', 24);
const OPS_PER_CLIENT = envCount('STOCKHOLD_HISTORY_OPS', 25);

interface Event {
  client: number;
  kind: 'checkout' | 'pay' | 'cancel' | 'restock';
  invoked_ms: number;
  responded_ms: number;
  status: number;
  body: any;
  request: any;
}

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ env: { SWEEP_INTERVAL_MS: '50' } });
  const api = apiClient(server.url);
  for (const sku of SKUS) await api.post('/v1/skus', { sku, available: INITIAL });
});
afterAll(async () => {
  await server?.dispose();
});

describe('a recorded history of concurrent clients', () => {
  it('never sells a unit twice and reflects every acknowledged request exactly once', async () => {
    const api = apiClient(server.url);
    const random = seededRandom(envCount('STOCKHOLD_HISTORY_SEED', 12));
    const history: Event[] = [];
    const call = async (client: number, kind: Event['kind'], path: string, request: any) => {
      const invoked_ms = performance.now();
      const response = await api.post(path, request);
      history.push({
        client,
        kind,
        invoked_ms,
        responded_ms: performance.now(),
        status: response.status,
        body: response.body,
        request: { path, ...request },
      });
      return response;
    };
    const client = async (n: number) => {
      const mine: string[] = [];
      for (let i = 0; i < OPS_PER_CLIENT; i++) {
        const roll = random();
        if (roll < 0.5 || mine.length === 0) {
          const lines = [{ sku: SKUS[Math.floor(random() * 3)]!, quantity: 1 + Math.floor(random() * 3) }];
          if (random() < 0.3) lines.push({ sku: SKUS[Math.floor(random() * 3)]!, quantity: 1 });
          const hold_seconds = random() < 0.2 ? 1 : 600;
          const response = await call(n, 'checkout', '/v1/orders', {
            customer_id: `c${n}`,
            lines,
            hold_seconds,
          });
          if (response.status === 201) mine.push(response.body.id);
        } else if (roll < 0.8) {
          const id = mine[Math.floor(random() * mine.length)]!;
          await call(n, 'pay', `/v1/orders/${id}/payment`, { payment_id: `pay-${n}-${i}` });
        } else if (roll < 0.95) {
          const id = mine[Math.floor(random() * mine.length)]!;
          await call(n, 'cancel', `/v1/orders/${id}/cancel`, undefined);
        } else {
          await call(n, 'restock', `/v1/skus/${SKUS[Math.floor(random() * 3)]}/adjustments`, { delta: 2 });
        }
      }
    };
    await Promise.all(Array.from({ length: CLIENTS }, (_, n) => client(n)));

    // Every request was answered, with a status from the API's table: none lost, none 5xx.
    expect(history).toHaveLength(CLIENTS * OPS_PER_CLIENT);
    expect(history.filter((event) => event.status >= 500)).toEqual([]);

    const store = server.store;
    const acknowledged = history.filter((event) => event.kind === 'checkout' && event.status === 201);
    const orders = await store.listOrders({ limit: 100_000 });
    // Refused checkouts left nothing: the orders are exactly the acknowledged ones, each once.
    expect(orders.map((order) => order.id).sort()).toEqual(acknowledged.map((event) => event.body.id).sort());
    const by_id = new Map(orders.map((order) => [order.id, order]));
    for (const event of acknowledged) {
      expect(by_id.get(event.body.id)!.lines).toEqual(event.request.lines);
    }
    // Acknowledged payments and cancels are the orders' final states (a late payment may follow expiry).
    for (const event of history.filter(
      (e) => e.status === 200 && (e.kind === 'pay' || e.kind === 'cancel'),
    )) {
      const order = by_id.get(event.body.id)!;
      if (event.kind === 'pay')
        expect(order).toMatchObject({ status: 'paid', payment_id: event.body.payment_id });
      else expect(order.status).toBe('cancelled');
    }

    const ledgers = new Map<string, LedgerEntry[]>();
    for (const sku of SKUS) ledgers.set(sku, await store.ledger(sku, 100_000));
    for (const sku of SKUS) {
      const row = (await store.getSku(sku))!;
      const restocked = history
        .filter((e) => e.kind === 'restock' && e.status === 200 && e.request.path.includes(`/${sku}/`))
        .reduce((sum, e) => sum + e.request.delta, 0);
      // No unit sold twice: what was sold is what paid orders hold, and never more than there was.
      const paid = orders
        .filter((order) => order.status === 'paid')
        .flatMap((order) => order.lines)
        .filter((line) => line.sku === sku)
        .reduce((sum, line) => sum + line.quantity, 0);
      expect(row.sold).toBe(paid);
      expect(row.sold).toBeLessThanOrEqual(INITIAL + restocked);
      expect(row.available + row.on_hold + row.sold).toBe(INITIAL + restocked);

      // Each acknowledged checkout holds this SKU exactly once in its ledger.
      const ledger = ledgers.get(sku)!;
      const holds = new Map<string, number>();
      for (const entry of ledger.filter((e) => e.kind === 'hold')) {
        expect(holds.has(entry.order_id!), `order ${entry.order_id} held ${sku} twice`).toBe(false);
        holds.set(entry.order_id!, entry.seq);
      }
      const holding = acknowledged.filter((e) => e.request.lines.some((line: any) => line.sku === sku));
      expect([...holds.keys()].sort()).toEqual(holding.map((e) => e.body.id).sort());
      // Real-time order: a checkout answered before another was sent holds its stock earlier.
      const sorted = [...holding].sort((a, b) => a.responded_ms - b.responded_ms);
      for (const earlier of sorted) {
        for (const later of holding) {
          if (later.invoked_ms > earlier.responded_ms) {
            expect(holds.get(earlier.body.id)!).toBeLessThan(holds.get(later.body.id)!);
          }
        }
      }
    }
    await expectVerified(store);
    reportFigure(
      'history requests',
      `${history.length} (${acknowledged.length} checkouts acknowledged, ${orders.filter((o) => o.status === 'paid').length} paid)`,
    );
  });
});
