// The order lifecycle through the real HTTP server on a real SQLite file, with a manual clock so
// deadlines pass without sleeping. Every scenario ends with the conservation audit.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { expectConservation } from '../support/invariants.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';

const clock = new ManualClock();
let server: TestServer;
let api: ReturnType<typeof apiClient>;
let sku_counter = 0;

beforeAll(async () => {
  server = await startTestServer({ clock, sweeper: false });
  api = apiClient(server.url);
});
afterAll(() => server.dispose());
afterEach(() => expectConservation(server.store));

async function newSku(available: number, extra: Record<string, unknown> = {}): Promise<string> {
  const sku = `sku-${++sku_counter}`;
  const created = await api.post('/v1/skus', { sku, available, ...extra });
  expect(created.status).toBe(201);
  return sku;
}

async function buckets(sku: string) {
  const { body } = await api.get(`/v1/skus/${sku}`);
  return { available: body.available, on_hold: body.on_hold, sold: body.sold };
}

async function checkout(
  customer_id: string,
  lines: { sku: string; quantity: number }[],
  hold_seconds?: number,
) {
  return api.post('/v1/orders', { customer_id, lines, ...(hold_seconds ? { hold_seconds } : {}) });
}

describe('checkout', () => {
  it('holds every line of a multi-line order and gives it a payment deadline', async () => {
    const [a, b] = [await newSku(5), await newSku(5)];
    const order = await checkout('alice', [
      { sku: a, quantity: 2 },
      { sku: b, quantity: 3 },
    ]);
    expect(order.status).toBe(201);
    expect(order.body.status).toBe('pending_payment');
    expect(Date.parse(order.body.expires_at) - Date.parse(order.body.created_at)).toBe(900_000);
    expect(await buckets(a)).toEqual({ available: 3, on_hold: 2, sold: 0 });
    expect(await buckets(b)).toEqual({ available: 2, on_hold: 3, sold: 0 });
  });

  it('holds nothing when one line is short, and names each short line with what is available', async () => {
    const [a, b] = [await newSku(5), await newSku(1)];
    const refused = await checkout('alice', [
      { sku: a, quantity: 2 },
      { sku: b, quantity: 3 },
    ]);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('insufficient_stock');
    expect(refused.body.error.details.lines).toEqual([{ sku: b, requested: 3, available: 1 }]);
    expect(await buckets(a)).toEqual({ available: 5, on_hold: 0, sold: 0 });
    expect(await buckets(b)).toEqual({ available: 1, on_hold: 0, sold: 0 });
  });

  it('decides two lines of the same SKU against their sum', async () => {
    const a = await newSku(3);
    const refused = await checkout('alice', [
      { sku: a, quantity: 2 },
      { sku: a, quantity: 2 },
    ]);
    expect(refused.status).toBe(409);
    expect(refused.body.error.details.lines).toEqual([{ sku: a, requested: 4, available: 3 }]);
    expect(await buckets(a)).toEqual({ available: 3, on_hold: 0, sold: 0 });
  });

  it('refuses an order for a SKU that does not exist, naming it', async () => {
    const a = await newSku(3);
    const refused = await checkout('alice', [
      { sku: a, quantity: 1 },
      { sku: 'no-such-sku', quantity: 1 },
    ]);
    expect(refused.status).toBe(404);
    expect(refused.body.error).toMatchObject({ code: 'sku_not_found', details: { skus: ['no-such-sku'] } });
    expect(await buckets(a)).toEqual({ available: 3, on_hold: 0, sold: 0 });
  });

  it('enforces max_per_customer across the pending and paid orders of a customer', async () => {
    const a = await newSku(10, { max_per_customer: 2 });
    const first = await checkout('bob', [{ sku: a, quantity: 1 }]);
    await api.post(`/v1/orders/${first.body.id}/payment`, { payment_id: 'pay-bob-1' });
    expect((await checkout('bob', [{ sku: a, quantity: 1 }])).status).toBe(201);
    const third = await checkout('bob', [{ sku: a, quantity: 1 }]);
    expect(third.status).toBe(409);
    expect(third.body.error.code).toBe('limit_exceeded');
    expect(third.body.error.details.lines).toEqual([
      { sku: a, requested: 1, already_ordered: 2, max_per_customer: 2 },
    ]);
    expect((await checkout('carol', [{ sku: a, quantity: 2 }])).status).toBe(201);
    expect(await buckets(a)).toEqual({ available: 6, on_hold: 3, sold: 1 });
  });

  it('frees the per-customer allowance again when an order is cancelled', async () => {
    const a = await newSku(10, { max_per_customer: 1 });
    const first = await checkout('dave', [{ sku: a, quantity: 1 }]);
    expect((await checkout('dave', [{ sku: a, quantity: 1 }])).status).toBe(409);
    await api.post(`/v1/orders/${first.body.id}/cancel`);
    expect((await checkout('dave', [{ sku: a, quantity: 1 }])).status).toBe(201);
  });
});

describe('payment', () => {
  it('moves the held units to sold before the deadline, and a replay returns the same order', async () => {
    const a = await newSku(4);
    const order = await checkout('erin', [{ sku: a, quantity: 3 }]);
    const paid = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-1' });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', payment_id: 'pay-1' });
    expect(paid.body.late).toBeUndefined();
    const replay = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-1' });
    expect(replay.status).toBe(200);
    expect(replay.body).toEqual(paid.body);
    const other = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-2' });
    expect(other.status).toBe(409);
    expect(other.body.error.code).toBe('already_paid');
    expect(await buckets(a)).toEqual({ available: 1, on_hold: 0, sold: 3 });
  });

  it('refuses to pay a cancelled order', async () => {
    const a = await newSku(4);
    const order = await checkout('erin', [{ sku: a, quantity: 1 }]);
    await api.post(`/v1/orders/${order.body.id}/cancel`);
    const refused = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-3' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('order_cancelled');
    expect(await buckets(a)).toEqual({ available: 4, on_hold: 0, sold: 0 });
  });

  it('accepts a late payment when every line can be re-acquired, marked late', async () => {
    const a = await newSku(2);
    const order = await checkout('frank', [{ sku: a, quantity: 2 }], 60);
    clock.advance(61_000);
    expect(await server.sweeper.sweepOnce()).toBeGreaterThanOrEqual(1);
    expect((await api.get(`/v1/orders/${order.body.id}`)).body.status).toBe('expired');
    expect(await buckets(a)).toEqual({ available: 2, on_hold: 0, sold: 0 });
    const paid = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'late-1' });
    expect(paid.status).toBe(200);
    expect(paid.body).toMatchObject({ status: 'paid', late: true, payment_id: 'late-1' });
    expect(await buckets(a)).toEqual({ available: 0, on_hold: 0, sold: 2 });
  });

  it('refuses a late payment with order_expired when the stock went to someone else, and sells nothing', async () => {
    const a = await newSku(2);
    const order = await checkout('gina', [{ sku: a, quantity: 2 }], 60);
    clock.advance(61_000);
    await server.sweeper.sweepOnce();
    expect((await checkout('hank', [{ sku: a, quantity: 1 }])).status).toBe(201);
    const refused = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'late-2' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('order_expired');
    expect(refused.body.error.details.lines).toEqual([{ sku: a, requested: 2, available: 1 }]);
    expect((await api.get(`/v1/orders/${order.body.id}`)).body.status).toBe('expired');
    expect(await buckets(a)).toEqual({ available: 1, on_hold: 1, sold: 0 });
  });

  it('refuses a late payment that would take the customer past max_per_customer, so an expired order is no way round the limit', async () => {
    const a = await newSku(10, { max_per_customer: 2 });
    const first = await checkout('jill', [{ sku: a, quantity: 2 }], 60);
    clock.advance(61_000);
    // Her allowance came back at the deadline (the sweeper has not run): she uses it on a new
    // order and pays that one.
    const second = await checkout('jill', [{ sku: a, quantity: 2 }]);
    expect(second.status).toBe(201);
    expect((await api.post(`/v1/orders/${second.body.id}/payment`, { payment_id: 'jill-2' })).status).toBe(
      200,
    );
    // Paying the first one now would sell her 4.
    const refused = await api.post(`/v1/orders/${first.body.id}/payment`, { payment_id: 'jill-1' });
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('order_expired');
    expect(refused.body.error.details).toEqual({
      order_id: first.body.id,
      lines: [{ sku: a, requested: 2, already_ordered: 2, max_per_customer: 2 }],
    });
    expect((await api.get(`/v1/orders/${first.body.id}`)).body.status).toBe('expired');
    expect(await buckets(a)).toEqual({ available: 8, on_hold: 0, sold: 2 });
    // Within the limit a late payment still goes through: another customer's expired order.
    const other = await checkout('kurt', [{ sku: a, quantity: 1 }], 60);
    clock.advance(61_000);
    const late = await api.post(`/v1/orders/${other.body.id}/payment`, { payment_id: 'kurt-1' });
    expect(late.body).toMatchObject({ status: 'paid', late: true });
    expect(await buckets(a)).toEqual({ available: 7, on_hold: 0, sold: 3 });
  });

  it('treats a payment after the deadline as late even before the sweeper ran', async () => {
    const a = await newSku(1);
    const order = await checkout('ivan', [{ sku: a, quantity: 1 }], 30);
    clock.advance(30_000);
    const paid = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'late-3' });
    expect(paid.body).toMatchObject({ status: 'paid', late: true });
    expect(await buckets(a)).toEqual({ available: 0, on_hold: 0, sold: 1 });
    const kinds = (await api.get(`/v1/skus/${a}/ledger`)).body.items.map(
      (entry: { kind: string }) => entry.kind,
    );
    expect(kinds).toEqual(['create', 'hold', 'expiry_release', 'late_payment']);
  });
});

describe('cancel and expiry', () => {
  it('returns a cancelled order’s holds to available; cancelling again answers the same order', async () => {
    const a = await newSku(3);
    const order = await checkout('judy', [{ sku: a, quantity: 2 }]);
    const cancelled = await api.post(`/v1/orders/${order.body.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body.status).toBe('cancelled');
    expect((await api.post(`/v1/orders/${order.body.id}/cancel`)).body.status).toBe('cancelled');
    expect(await buckets(a)).toEqual({ available: 3, on_hold: 0, sold: 0 });
  });

  it('refuses to cancel a paid order or an expired one', async () => {
    const a = await newSku(3);
    const paid = await checkout('kate', [{ sku: a, quantity: 1 }]);
    await api.post(`/v1/orders/${paid.body.id}/payment`, { payment_id: 'pay-k' });
    expect((await api.post(`/v1/orders/${paid.body.id}/cancel`)).body.error.code).toBe('order_paid');
    const expiring = await checkout('kate', [{ sku: a, quantity: 1 }], 5);
    clock.advance(5_000);
    const refused = await api.post(`/v1/orders/${expiring.body.id}/cancel`);
    expect(refused.status).toBe(409);
    expect(refused.body.error.code).toBe('order_expired');
    expect(await buckets(a)).toEqual({ available: 2, on_hold: 0, sold: 1 });
  });

  it('the sweeper expires only orders whose deadline passed', async () => {
    const a = await newSku(10);
    const short = await checkout('liam', [{ sku: a, quantity: 2 }], 10);
    const long = await checkout('liam', [{ sku: a, quantity: 3 }], 100);
    clock.advance(10_000);
    await server.sweeper.sweepOnce();
    expect((await api.get(`/v1/orders/${short.body.id}`)).body.status).toBe('expired');
    expect((await api.get(`/v1/orders/${long.body.id}`)).body.status).toBe('pending_payment');
    expect(await buckets(a)).toEqual({ available: 7, on_hold: 3, sold: 0 });
  });

  it('a checkout that finds too little stock reclaims expired holds itself, without the sweeper', async () => {
    const a = await newSku(2);
    const stale = await checkout('mia', [{ sku: a, quantity: 2 }], 10);
    expect((await checkout('noah', [{ sku: a, quantity: 1 }])).status).toBe(409);
    clock.advance(10_000);
    const fresh = await checkout('noah', [{ sku: a, quantity: 2 }]);
    expect(fresh.status).toBe(201);
    expect((await api.get(`/v1/orders/${stale.body.id}`)).body.status).toBe('expired');
    expect(await buckets(a)).toEqual({ available: 0, on_hold: 2, sold: 0 });
  });

  it('writes every movement to the ledger, oldest first, with the buckets after it', async () => {
    const a = await newSku(5);
    const order = await checkout('olga', [{ sku: a, quantity: 2 }]);
    await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-o' });
    await api.post(`/v1/skus/${a}/adjustments`, { delta: 4, reason: 'restock' });
    const { body } = await api.get(`/v1/skus/${a}/ledger`);
    expect(
      body.items.map((entry: Record<string, unknown>) => [
        entry.kind,
        entry.available_after,
        entry.on_hold_after,
        entry.sold_after,
      ]),
    ).toEqual([
      ['create', 5, 0, 0],
      ['hold', 3, 2, 0],
      ['payment', 3, 0, 2],
      ['adjustment', 7, 0, 2],
    ]);
    // Newest first, page by page: the latest movements of a busy SKU without reading its history.
    const newest = await api.get(`/v1/skus/${a}/ledger?order=newest&limit=3`);
    expect(newest.body.items.map((entry: { seq: number }) => entry.seq)).toEqual([4, 3, 2]);
    const rest = await api.get(`/v1/skus/${a}/ledger?order=newest&limit=3&cursor=${newest.body.next_cursor}`);
    expect(rest.body).toMatchObject({ items: [{ seq: 1, kind: 'create' }], next_cursor: null });
  });
});

describe('the movements of one order', () => {
  it('answers every ledger entry of the order with its sku, by sku then seq, as the SKU ledgers answer them', async () => {
    const [a, b] = [await newSku(5), await newSku(5)];
    const order = await checkout('pia', [
      { sku: b, quantity: 1 },
      { sku: a, quantity: 2 },
    ]);
    // Another order's movement of a between this order's hold and its payment.
    expect((await checkout('quinn', [{ sku: a, quantity: 1 }])).status).toBe(201);
    await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'pay-p' });

    const answer = await api.get(`/v1/orders/${order.body.id}/ledger`);
    expect(answer.status).toBe(200);
    expect(Object.keys(answer.body)).toEqual(['items']);
    const moves: Record<string, unknown[][]> = {
      [a]: [
        [a, 2, 'hold'],
        [a, 4, 'payment'],
      ],
      [b]: [
        [b, 2, 'hold'],
        [b, 3, 'payment'],
      ],
    };
    expect(
      answer.body.items.map((entry: Record<string, unknown>) => [entry.sku, entry.seq, entry.kind]),
    ).toEqual([a, b].sort().flatMap((sku) => moves[sku]));
    const hold_of_a = answer.body.items.find((entry: { sku: string }) => entry.sku === a);
    expect(hold_of_a).toEqual({
      sku: a,
      seq: 2,
      at: expect.any(String),
      kind: 'hold',
      order_id: order.body.id,
      delta_available: -2,
      delta_on_hold: 2,
      delta_sold: 0,
      available_after: 3,
      on_hold_after: 2,
      sold_after: 0,
      reason: null,
    });
    for (const sku of [a, b]) {
      const { body } = await api.get(`/v1/skus/${sku}/ledger`);
      expect(answer.body.items.filter((entry: { sku: string }) => entry.sku === sku)).toEqual(
        body.items.filter((entry: { order_id: string | null }) => entry.order_id === order.body.id),
      );
    }
  });

  it('answers 404 order_not_found for an order that does not exist', async () => {
    const answer = await api.get('/v1/orders/0190c5f0-0000-7000-8000-000000000000/ledger');
    expect(answer.status).toBe(404);
    expect(answer.body.error.code).toBe('order_not_found');
  });

  it('is documented in /openapi.json with its entries, each with a sku, and its 404', async () => {
    const { body } = await api.get('/openapi.json');
    const route = body.paths['/v1/orders/{id}/ledger'].get;
    expect(Object.keys(route.responses)).toEqual(expect.arrayContaining(['200', '404']));
    const items = route.responses['200'].content['application/json'].schema.properties.items;
    // 100 lines x 3 movements, 10 changes x 200, 10 returns x 100 (LIMITS.order_ledger_entries_max).
    expect(items.maxItems).toBe(3300);
    expect(items.items.required).toContain('sku');
  });
});

describe('adjustments', () => {
  it('restocks and removes, never below zero, with compare-and-set on expected_available', async () => {
    const a = await newSku(5);
    expect(
      (await api.post(`/v1/skus/${a}/adjustments`, { delta: 10, reason: 'delivery' })).body.available,
    ).toBe(15);
    const below = await api.post(`/v1/skus/${a}/adjustments`, { delta: -16 });
    expect(below.status).toBe(409);
    expect(below.body.error.code).toBe('insufficient_stock');
    const stale = await api.post(`/v1/skus/${a}/adjustments`, { delta: -1, expected_available: 5 });
    expect(stale.status).toBe(409);
    expect(stale.body.error).toMatchObject({ code: 'version_conflict', details: { available: 15 } });
    expect(
      (await api.post(`/v1/skus/${a}/adjustments`, { delta: -15, expected_available: 15 })).body.available,
    ).toBe(0);
  });
});

describe('idempotency', () => {
  it('replays the first answer for the same key and body without doing the work again', async () => {
    const a = await newSku(5);
    const headers = { 'Idempotency-Key': `checkout-${a}` };
    const first = await api.post(
      '/v1/orders',
      { customer_id: 'pat', lines: [{ sku: a, quantity: 2 }] },
      headers,
    );
    const again = await api.post(
      '/v1/orders',
      { lines: [{ quantity: 2, sku: a }], customer_id: 'pat' },
      headers,
    );
    expect(again.status).toBe(201);
    expect(again.body).toEqual(first.body);
    expect(again.headers.get('idempotent-replayed')).toBe('true');
    expect(await buckets(a)).toEqual({ available: 3, on_hold: 2, sold: 0 });
  });

  it('replays a refusal too, and refuses the same key with another body with 422', async () => {
    const a = await newSku(1);
    const headers = { 'Idempotency-Key': `short-${a}` };
    const refused = await api.post(
      '/v1/orders',
      { customer_id: 'quin', lines: [{ sku: a, quantity: 2 }] },
      headers,
    );
    expect(refused.status).toBe(409);
    await api.post(`/v1/skus/${a}/adjustments`, { delta: 5 });
    const replay = await api.post(
      '/v1/orders',
      { customer_id: 'quin', lines: [{ sku: a, quantity: 2 }] },
      headers,
    );
    expect(replay.status).toBe(409);
    expect(replay.body).toEqual(refused.body);
    const reused = await api.post(
      '/v1/orders',
      { customer_id: 'quin', lines: [{ sku: a, quantity: 1 }] },
      headers,
    );
    expect(reused.status).toBe(422);
    expect(reused.body.error.code).toBe('idempotency_key_reused');
    expect(await buckets(a)).toEqual({ available: 6, on_hold: 0, sold: 0 });
  });

  it('stores nothing under a key whose request failed validation', async () => {
    const a = await newSku(3);
    const headers = { 'Idempotency-Key': `invalid-first-${a}` };
    expect((await api.post('/v1/orders', { customer_id: 'rita', lines: [] }, headers)).status).toBe(400);
    const valid = await api.post(
      '/v1/orders',
      { customer_id: 'rita', lines: [{ sku: a, quantity: 1 }] },
      headers,
    );
    expect(valid.status).toBe(201);
  });

  it('keeps payments idempotent across keys of different routes', async () => {
    const a = await newSku(3);
    const order = await checkout('sam', [{ sku: a, quantity: 1 }]);
    const headers = { 'Idempotency-Key': `pay-${a}` };
    expect((await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'p' }, headers)).status).toBe(
      200,
    );
    const cancel = await api.post(`/v1/orders/${order.body.id}/cancel`, undefined, headers);
    expect(cancel.status).toBe(422);
    expect(await buckets(a)).toEqual({ available: 2, on_hold: 0, sold: 1 });
  });
});

describe('idempotency key retention', () => {
  it('keeps a key for 24 hours, then forgets it', async () => {
    const a = await newSku(5);
    const headers = { 'Idempotency-Key': `retained-${a}` };
    const body = { customer_id: 'uma', lines: [{ sku: a, quantity: 1 }] };
    const first = await api.post('/v1/orders', body, headers);
    clock.advance(24 * 60 * 60 * 1000 - 1);
    expect((await server.sweeper.purgeRetained())['idempotency keys']).toBe(0);
    expect((await api.post('/v1/orders', body, headers)).body.id).toBe(first.body.id);
    clock.advance(2);
    expect((await server.sweeper.purgeRetained())['idempotency keys']).toBeGreaterThanOrEqual(1);
    const fresh = await api.post('/v1/orders', body, headers);
    expect(fresh.status).toBe(201);
    expect(fresh.body.id).not.toBe(first.body.id);
  });
});

describe('reads', () => {
  it('pages through SKUs and orders with opaque cursors, orders newest first and filtered', async () => {
    const a = await newSku(10);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await checkout('tina', [{ sku: a, quantity: 1 }])).body.id);
    const first = await api.get(`/v1/orders?customer_id=tina&limit=3`);
    expect(first.body.items.map((order: { id: string }) => order.id)).toEqual(ids.slice(2).reverse());
    const second = await api.get(`/v1/orders?customer_id=tina&limit=3&cursor=${first.body.next_cursor}`);
    expect(second.body.items.map((order: { id: string }) => order.id)).toEqual(ids.slice(0, 2).reverse());
    expect(second.body.next_cursor).toBeNull();
    const by_sku = await api.get(`/v1/orders?sku=${a}&status=pending_payment&limit=500`);
    expect(by_sku.body.items).toHaveLength(5);
    const skus = await api.get('/v1/skus?limit=2');
    expect(skus.body.items).toHaveLength(2);
    const next = await api.get(`/v1/skus?limit=2&cursor=${skus.body.next_cursor}`);
    expect(next.body.items[0].sku > skus.body.items[1].sku).toBe(true);
  });

  it('serves the OpenAPI document, health and readiness', async () => {
    const openapi = await api.get('/openapi.json');
    expect(openapi.status).toBe(200);
    expect(Object.keys(openapi.body.paths)).toEqual(
      expect.arrayContaining([
        '/v1/skus',
        '/v1/orders',
        '/v1/orders/{id}/payment',
        '/v1/skus/{sku}/ledger',
        '/v1/orders/{id}/ledger',
      ]),
    );
    expect((await api.get('/healthz')).body).toEqual({ status: 'ok' });
    expect((await api.get('/readyz')).body).toEqual({ status: 'ready' });
    expect((await api.get('/docs/')).status).toBe(200);
  });
});
