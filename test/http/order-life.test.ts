// The rest of a hold's life (issue 23) through the real HTTP server, on SQLite and PostgreSQL, with a
// manual clock so deadlines pass without sleeping: extension, change of lines, partial capture and
// returns. Every refusal leaves buckets and order as they were; every test ends with the audit.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { bearer, createTestKeys, type TestKeys } from '../security/support.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';

type Line = { sku: string; quantity: number };

describe.each(DIALECTS)('the life of a hold, on %s', (dialect) => {
  const clock = new ManualClock();
  let server: TestServer;
  let database: TestDatabase | null = null;
  let api: ReturnType<typeof apiClient>;
  let counter = 0;

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    server = await startTestServer({
      clock,
      sweeper: false,
      env: { HOLD_EXTENSIONS_MAX: '2', HOLD_SECONDS_TOTAL_MAX: '1800' },
      ...(database ? { database_url: database.url } : {}),
    });
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });
  afterEach(async () => {
    await expectConservation(server.store);
    expect((await server.store.verify()).problems).toEqual([]);
  });

  async function newSku(available: number, extra: Record<string, unknown> = {}): Promise<string> {
    const sku = `life-${++counter}`;
    expect((await api.post('/v1/skus', { sku, available, ...extra })).status).toBe(201);
    return sku;
  }
  async function buckets(sku: string) {
    const { body } = await api.get(`/v1/skus/${sku}`);
    return { available: body.available, on_hold: body.on_hold, sold: body.sold };
  }
  async function checkout(lines: Line[], hold_seconds = 600, customer_id = 'alice') {
    const answer = await api.post('/v1/orders', { customer_id, lines, hold_seconds });
    expect(answer.status).toBe(201);
    return answer.body as { id: string; expires_at: string; created_at: string };
  }
  /** The order and the buckets of `skus`, to compare before and after a refusal. */
  async function state(order_id: string, skus: string[]) {
    return {
      order: (await api.get(`/v1/orders/${order_id}`)).body,
      buckets: await Promise.all(skus.map(buckets)),
    };
  }
  async function paidOrder(lines: Line[]) {
    const order = await checkout(lines);
    expect((await api.post(`/v1/orders/${order.id}/payment`, { payment_id: `p-${order.id}` })).status).toBe(
      200,
    );
    return order;
  }

  describe('extension', () => {
    it('moves the deadline later by seconds from the current one and counts the extensions', async () => {
      const sku = await newSku(5);
      const order = await checkout([{ sku, quantity: 2 }]);
      const extended = await api.post(`/v1/orders/${order.id}/extension`, {
        seconds: 300,
        reason: 'slow bank',
      });
      expect(extended.status).toBe(200);
      expect(Date.parse(extended.body.expires_at) - Date.parse(order.expires_at)).toBe(300_000);
      expect(extended.body).toMatchObject({ status: 'pending_payment', extensions: 1, returns: [] });
      expect(await buckets(sku)).toEqual({ available: 3, on_hold: 2, sold: 0 });
      const events = await server.store.eventsAfter(0, 10_000);
      expect(
        events.filter((event) => event.type === 'order.extended' && event.subject_id === order.id),
      ).toHaveLength(1);
    });

    it('refuses past HOLD_EXTENSIONS_MAX or created_at + HOLD_SECONDS_TOTAL_MAX, changing nothing', async () => {
      const sku = await newSku(5);
      const order = await checkout([{ sku, quantity: 1 }]);
      const before_total = await state(order.id, [sku]);
      const too_far = await api.post(`/v1/orders/${order.id}/extension`, { seconds: 1201 });
      expect(too_far.status).toBe(409);
      expect(too_far.body.error).toMatchObject({
        code: 'extension_limit',
        details: {
          extensions: 0,
          extensions_max: 2,
          latest_expires_at: new Date(Date.parse(order.created_at) + 1_800_000).toISOString(),
        },
      });
      expect(await state(order.id, [sku])).toEqual(before_total);
      for (let n = 0; n < 2; n++) {
        expect((await api.post(`/v1/orders/${order.id}/extension`, { seconds: 60 })).status).toBe(200);
      }
      const before_count = await state(order.id, [sku]);
      const third = await api.post(`/v1/orders/${order.id}/extension`, { seconds: 60 });
      expect(third.status).toBe(409);
      expect(third.body.error).toMatchObject({ code: 'extension_limit', details: { extensions: 2 } });
      expect(await state(order.id, [sku])).toEqual(before_count);
    });

    it('refuses a lapsed hold (expiring it in the same transaction), a paid and a cancelled order', async () => {
      const sku = await newSku(5);
      const lapsed = await checkout([{ sku, quantity: 1 }], 10);
      clock.advance(10_000);
      const late = await api.post(`/v1/orders/${lapsed.id}/extension`, { seconds: 60 });
      expect(late.body.error.code).toBe('order_expired');
      expect((await api.get(`/v1/orders/${lapsed.id}`)).body.status).toBe('expired');
      expect(await buckets(sku)).toEqual({ available: 5, on_hold: 0, sold: 0 });
      const paid = await paidOrder([{ sku, quantity: 1 }]);
      expect((await api.post(`/v1/orders/${paid.id}/extension`, { seconds: 60 })).body.error.code).toBe(
        'order_paid',
      );
      const cancelled = await checkout([{ sku, quantity: 1 }]);
      await api.post(`/v1/orders/${cancelled.id}/cancel`);
      const refused = await api.post(`/v1/orders/${cancelled.id}/extension`, { seconds: 60 });
      expect(refused.status).toBe(409);
      expect(refused.body.error.code).toBe('order_cancelled');
      expect((await api.post(`/v1/orders/${paid.id}/extension`, { seconds: 0 })).status).toBe(400);
    });

    it('is honoured by the sweeper: not swept at the old deadline, swept at the new one', async () => {
      const sku = await newSku(5);
      const order = await checkout([{ sku, quantity: 2 }], 60);
      await api.post(`/v1/orders/${order.id}/extension`, { seconds: 60 });
      clock.advance(60_000);
      await server.sweeper.sweepOnce();
      expect((await api.get(`/v1/orders/${order.id}`)).body.status).toBe('pending_payment');
      expect(await buckets(sku)).toEqual({ available: 3, on_hold: 2, sold: 0 });
      clock.advance(60_000);
      await server.sweeper.sweepOnce();
      expect((await api.get(`/v1/orders/${order.id}`)).body).toMatchObject({
        status: 'expired',
        extensions: 1,
      });
      expect(await buckets(sku)).toEqual({ available: 5, on_hold: 0, sold: 0 });
    });

    it('is honoured by the lazy reclaim: a checkout at the old deadline finds the units still held', async () => {
      const sku = await newSku(2);
      const order = await checkout([{ sku, quantity: 2 }], 60);
      await api.post(`/v1/orders/${order.id}/extension`, { seconds: 60 });
      clock.advance(60_000);
      const early = await api.post('/v1/orders', { customer_id: 'bob', lines: [{ sku, quantity: 1 }] });
      expect(early.body.error.code).toBe('insufficient_stock');
      expect((await api.get(`/v1/orders/${order.id}`)).body.status).toBe('pending_payment');
      clock.advance(60_000);
      const reclaimed = await api.post('/v1/orders', { customer_id: 'bob', lines: [{ sku, quantity: 1 }] });
      expect(reclaimed.status).toBe(201);
      expect((await api.get(`/v1/orders/${order.id}`)).body.status).toBe('expired');
    });

    it('replays an Idempotency-Key with the first answer, extending once', async () => {
      const sku = await newSku(5);
      const order = await checkout([{ sku, quantity: 1 }]);
      const headers = { 'idempotency-key': `ext-${order.id}` };
      const first = await api.post(`/v1/orders/${order.id}/extension`, { seconds: 30 }, headers);
      const again = await api.post(`/v1/orders/${order.id}/extension`, { seconds: 30 }, headers);
      expect(again.body).toEqual(first.body);
      expect(again.body.extensions).toBe(1);
    });
  });

  describe('change of lines', () => {
    it('holds increases, releases decreases, and keeps the deadline', async () => {
      const [a, b, c] = [await newSku(5), await newSku(5), await newSku(5)];
      const order = await checkout([
        { sku: a, quantity: 2 },
        { sku: b, quantity: 2 },
      ]);
      const changed = await api.raw('PATCH', `/v1/orders/${order.id}`, {
        lines: [
          { sku: a, quantity: 4 },
          { sku: c, quantity: 1 },
        ],
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toMatchObject({ expires_at: order.expires_at, status: 'pending_payment' });
      expect(changed.body.lines).toEqual([
        { sku: a, quantity: 4 },
        { sku: c, quantity: 1 },
      ]);
      expect(await buckets(a)).toEqual({ available: 1, on_hold: 4, sold: 0 });
      expect(await buckets(b)).toEqual({ available: 5, on_hold: 0, sold: 0 });
      expect(await buckets(c)).toEqual({ available: 4, on_hold: 1, sold: 0 });
      const kinds = (await api.get(`/v1/orders/${order.id}/ledger`)).body.items.map(
        (entry: { sku: string; kind: string }) =>
          `${entry.sku === a ? 'a' : entry.sku === b ? 'b' : 'c'}:${entry.kind}`,
      );
      expect(kinds).toEqual(['a:hold', 'a:change_hold', 'b:hold', 'b:change_release', 'c:change_hold']);
    });

    it('refuses short increases all or none, naming each short line, and changes nothing', async () => {
      const [a, b] = [await newSku(3), await newSku(1)];
      const order = await checkout([{ sku: a, quantity: 1 }]);
      const before = await state(order.id, [a, b]);
      const refused = await api.raw('PATCH', `/v1/orders/${order.id}`, {
        lines: [
          { sku: a, quantity: 3 },
          { sku: b, quantity: 2 },
        ],
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({
        code: 'insufficient_stock',
        details: { lines: [{ sku: b, requested: 2, available: 1 }] },
      });
      expect(await state(order.id, [a, b])).toEqual(before);
    });

    it('applies max_per_customer to the new totals, counting the old lines once', async () => {
      const sku = await newSku(10, { max_per_customer: 3 });
      const order = await checkout([{ sku, quantity: 2 }], 600, 'limited');
      expect(
        (await api.raw('PATCH', `/v1/orders/${order.id}`, { lines: [{ sku, quantity: 3 }] })).status,
      ).toBe(200);
      const before = await state(order.id, [sku]);
      const over = await api.raw('PATCH', `/v1/orders/${order.id}`, { lines: [{ sku, quantity: 4 }] });
      expect(over.body.error.code).toBe('limit_exceeded');
      expect(await state(order.id, [sku])).toEqual(before);
    });

    it('refuses removing every line (400), a paid order and a lapsed one', async () => {
      const sku = await newSku(5);
      const order = await checkout([{ sku, quantity: 1 }], 10);
      expect((await api.raw('PATCH', `/v1/orders/${order.id}`, { lines: [] })).status).toBe(400);
      clock.advance(10_000);
      const lapsed = await api.raw('PATCH', `/v1/orders/${order.id}`, { lines: [{ sku, quantity: 2 }] });
      expect(lapsed.body.error.code).toBe('order_expired');
      const paid = await paidOrder([{ sku, quantity: 1 }]);
      const refused = await api.raw('PATCH', `/v1/orders/${paid.id}`, { lines: [{ sku, quantity: 2 }] });
      expect(refused.body.error.code).toBe('order_paid');
    });
  });

  describe('partial capture', () => {
    it('sells the lines named and returns the rest to available, in one step', async () => {
      const [a, b] = [await newSku(5), await newSku(5)];
      const order = await checkout([
        { sku: a, quantity: 3 },
        { sku: b, quantity: 2 },
      ]);
      const paid = await api.post(`/v1/orders/${order.id}/payment`, {
        payment_id: 'part-1',
        lines: [{ sku: a, quantity: 2 }],
      });
      expect(paid.status).toBe(200);
      expect(paid.body).toMatchObject({
        status: 'paid',
        sold_lines: [{ sku: a, quantity: 2 }],
        released_lines: [
          { sku: a, quantity: 1 },
          { sku: b, quantity: 2 },
        ],
      });
      expect(await buckets(a)).toEqual({ available: 3, on_hold: 0, sold: 2 });
      expect(await buckets(b)).toEqual({ available: 5, on_hold: 0, sold: 0 });
      const replay = await api.post(`/v1/orders/${order.id}/payment`, { payment_id: 'part-1' });
      expect(replay.body).toEqual(paid.body);
    });

    it('refuses more than held and a SKU the order does not hold (409 capture_exceeds_hold), changing nothing', async () => {
      const [a, b] = [await newSku(5), await newSku(5)];
      const order = await checkout([{ sku: a, quantity: 2 }]);
      const before = await state(order.id, [a, b]);
      const over = await api.post(`/v1/orders/${order.id}/payment`, {
        payment_id: 'x',
        lines: [{ sku: a, quantity: 3 }],
      });
      expect(over.status).toBe(409);
      expect(over.body.error).toMatchObject({
        code: 'capture_exceeds_hold',
        details: { lines: [{ sku: a, requested: 3, held: 2 }] },
      });
      const foreign = await api.post(`/v1/orders/${order.id}/payment`, {
        payment_id: 'x',
        lines: [{ sku: b, quantity: 1 }],
      });
      expect(foreign.status).toBe(409);
      expect(foreign.body.error).toMatchObject({
        code: 'capture_exceeds_hold',
        details: { lines: [{ sku: b, requested: 1, held: 0 }] },
      });
      expect(await state(order.id, [a, b])).toEqual(before);
    });

    it('after expiry re-acquires only the lines named (late: true)', async () => {
      const [a, b] = [await newSku(5), await newSku(5)];
      const order = await checkout(
        [
          { sku: a, quantity: 2 },
          { sku: b, quantity: 2 },
        ],
        10,
      );
      clock.advance(10_000);
      await server.sweeper.sweepOnce();
      const paid = await api.post(`/v1/orders/${order.id}/payment`, {
        payment_id: 'late-1',
        lines: [{ sku: b, quantity: 1 }],
      });
      expect(paid.status).toBe(200);
      expect(paid.body).toMatchObject({
        status: 'paid',
        late: true,
        sold_lines: [{ sku: b, quantity: 1 }],
        released_lines: [
          { sku: a, quantity: 2 },
          { sku: b, quantity: 1 },
        ],
      });
      expect(await buckets(a)).toEqual({ available: 5, on_hold: 0, sold: 0 });
      expect(await buckets(b)).toEqual({ available: 4, on_hold: 0, sold: 1 });
    });
  });

  describe('returns', () => {
    it('restocks (sold -> available) and writes off (units leave the stock), listing each return', async () => {
      const sku = await newSku(10);
      const order = await paidOrder([{ sku, quantity: 4 }]);
      const restocked = await api.post(`/v1/orders/${order.id}/returns`, {
        lines: [{ sku, quantity: 1 }],
        restock: true,
        reason: 'wrong size',
      });
      expect(restocked.status).toBe(201);
      expect(await buckets(sku)).toEqual({ available: 7, on_hold: 0, sold: 3 });
      const written_off = await api.post(`/v1/orders/${order.id}/returns`, {
        lines: [{ sku, quantity: 2 }],
        restock: false,
      });
      expect(written_off.status).toBe(201);
      expect(await buckets(sku)).toEqual({ available: 7, on_hold: 0, sold: 1 });
      expect(written_off.body.returns).toEqual([
        { at: expect.any(String), lines: [{ sku, quantity: 1 }], restock: true, reason: 'wrong size' },
        { at: expect.any(String), lines: [{ sku, quantity: 2 }], restock: false, reason: null },
      ]);
      expect((await api.get(`/v1/orders/${order.id}`)).body).toEqual(written_off.body);
      const kinds = (await api.get(`/v1/skus/${sku}/ledger`)).body.items.map(
        (entry: { kind: string }) => entry.kind,
      );
      expect(kinds.slice(-2)).toEqual(['return_restock', 'return_writeoff']);
    });

    it('refuses more than sold and not yet returned, with the per-line numbers, changing nothing', async () => {
      const sku = await newSku(10);
      const order = await paidOrder([{ sku, quantity: 2 }]);
      await api.post(`/v1/orders/${order.id}/returns`, { lines: [{ sku, quantity: 1 }], restock: true });
      const before = await state(order.id, [sku]);
      const over = await api.post(`/v1/orders/${order.id}/returns`, {
        lines: [{ sku, quantity: 2 }],
        restock: true,
      });
      expect(over.status).toBe(409);
      expect(over.body.error).toMatchObject({
        code: 'return_exceeds_sold',
        details: { lines: [{ sku, requested: 2, sold: 2, returned: 1 }] },
      });
      expect(await state(order.id, [sku])).toEqual(before);
      const pending = await checkout([{ sku, quantity: 1 }]);
      const not_paid = await api.post(`/v1/orders/${pending.id}/returns`, {
        lines: [{ sku, quantity: 1 }],
        restock: true,
      });
      expect(not_paid.body.error.code).toBe('order_not_paid');
    });

    it('returns only what a partial capture sold', async () => {
      const sku = await newSku(10);
      const order = await checkout([{ sku, quantity: 3 }]);
      await api.post(`/v1/orders/${order.id}/payment`, { payment_id: 'pc', lines: [{ sku, quantity: 1 }] });
      const over = await api.post(`/v1/orders/${order.id}/returns`, {
        lines: [{ sku, quantity: 2 }],
        restock: false,
      });
      expect(over.body.error.code).toBe('return_exceeds_sold');
      expect(
        (await api.post(`/v1/orders/${order.id}/returns`, { lines: [{ sku, quantity: 1 }], restock: false }))
          .status,
      ).toBe(201);
      expect(await buckets(sku)).toEqual({ available: 9, on_hold: 0, sold: 0 });
    });
  });

  it('keeps every invariant through a mix of the whole life (stockhold verify is clean)', async () => {
    const [a, b] = [await newSku(20), await newSku(20)];
    for (let n = 0; n < 6; n++) {
      const order = await checkout([
        { sku: a, quantity: 2 },
        { sku: b, quantity: 1 },
      ]);
      await api.post(`/v1/orders/${order.id}/extension`, { seconds: 30 });
      await api.raw('PATCH', `/v1/orders/${order.id}`, {
        lines: [
          { sku: a, quantity: 1 + (n % 3) },
          { sku: b, quantity: 2 },
        ],
      });
      if (n % 3 === 0) await api.post(`/v1/orders/${order.id}/cancel`);
      else {
        await api.post(`/v1/orders/${order.id}/payment`, {
          payment_id: `mix-${n}`,
          lines: [{ sku: b, quantity: 1 }],
        });
        await api.post(`/v1/orders/${order.id}/returns`, {
          lines: [{ sku: b, quantity: 1 }],
          restock: n % 2 === 0,
        });
      }
    }
    const report = await server.store.verify();
    expect(report.ok).toBe(true);
  });
});

describe('the new routes and API keys', () => {
  let server: TestServer;
  let keys: TestKeys;
  beforeAll(async () => {
    const { url } = temporarySqliteUrl();
    keys = await createTestKeys(url);
    server = await startTestServer({ database_url: url });
  });
  afterAll(() => server?.dispose());

  it("let a checkout key extend, change, pay in part and return only its own orders; another's answer 404", async () => {
    const as = (key: string) => ({ ...bearer(key) });
    const api = apiClient(server.url);
    expect((await api.post('/v1/skus', { sku: 'mug', available: 10 }, as(keys.admin))).status).toBe(201);
    const lines = [{ sku: 'mug', quantity: 2 }];
    const theirs = await api.post('/v1/orders', { customer_id: 'bob', lines }, as(keys.other_checkout));
    const other = theirs.body.id as string;
    const attempts: [string, string, unknown][] = [
      ['POST', `/v1/orders/${other}/extension`, { seconds: 60 }],
      ['PATCH', `/v1/orders/${other}`, { lines: [{ sku: 'mug', quantity: 1 }] }],
      ['POST', `/v1/orders/${other}/payment`, { payment_id: 'steal', lines: [{ sku: 'mug', quantity: 1 }] }],
      ['POST', `/v1/orders/${other}/returns`, { lines: [{ sku: 'mug', quantity: 1 }], restock: true }],
    ];
    for (const [method, path, body] of attempts) {
      const answer = await api.raw(method, path, body, as(keys.checkout));
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body.error.code).toBe('order_not_found');
      expect((await api.raw(method, path, body, as(keys.read))).status, `${method} ${path} as read`).toBe(
        403,
      );
    }
    expect((await api.get(`/v1/orders/${other}`, as(keys.admin))).body).toMatchObject({
      status: 'pending_payment',
      extensions: 0,
      lines,
    });
    const mine = await api.post('/v1/orders', { customer_id: 'amy', lines }, as(keys.checkout));
    const id = mine.body.id as string;
    expect((await api.post(`/v1/orders/${id}/extension`, { seconds: 60 }, as(keys.checkout))).status).toBe(
      200,
    );
    const paid = await api.post(
      `/v1/orders/${id}/payment`,
      { payment_id: 'mine', lines: [{ sku: 'mug', quantity: 1 }] },
      as(keys.checkout),
    );
    expect(paid.status).toBe(200);
    const returned = await api.post(
      `/v1/orders/${id}/returns`,
      { lines: [{ sku: 'mug', quantity: 1 }], restock: true },
      as(keys.checkout),
    );
    expect(returned.status).toBe(201);
    await expectConservation(server.store);
  });
});
