// The life of a SKU through the real HTTP server, on SQLite and PostgreSQL (issue 23): PATCH with
// compare-and-set on the version, archiving (what it refuses and what still works), delete, the
// ERP count with holds in place, and the stock events once per crossing. A refusal changes nothing;
// after each test the audit and verify's deep walk are clean.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { StoredEvent } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';

describe.each(DIALECTS)('the life of a SKU, on %s', (dialect) => {
  const clock = new ManualClock();
  let server: TestServer;
  let database: TestDatabase | null = null;
  let api: ReturnType<typeof apiClient>;
  let sku_counter = 0;

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    server = await startTestServer({
      clock,
      sweeper: false,
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
    const sku = `life-${++sku_counter}`;
    const created = await api.post('/v1/skus', { sku, available, ...extra });
    expect(created.status).toBe(201);
    return sku;
  }
  const patch = (sku: string, body: unknown, headers?: Record<string, string>) =>
    api.raw('PATCH', `/v1/skus/${sku}`, body, headers);
  const count = (sku: string, body: unknown) => api.post(`/v1/skus/${sku}/count`, body);
  const read = async (sku: string) => (await api.get(`/v1/skus/${sku}`)).body;
  const checkout = (sku: string, quantity: number, customer_id = 'alice') =>
    api.post('/v1/orders', { customer_id, lines: [{ sku, quantity }], hold_seconds: 60 });
  /** Events of `sku` written after event id `after`, by type. */
  async function eventsOf(sku: string, after: number): Promise<string[]> {
    const events: StoredEvent[] = await server.store.eventsAfter(after, 10_000);
    return events.filter((event) => event.subject_id === sku).map((event) => event.type);
  }

  describe('PATCH /v1/skus/{sku}', () => {
    it('changes the given fields and answers the SKU with its version, one update entry in the ledger', async () => {
      const sku = await newSku(5, { max_per_customer: 2 });
      const created = await read(sku);
      expect(created).toMatchObject({ version: 1, archived: false, low_stock_threshold: null });
      const changed = await patch(sku, {
        name: 'Mug',
        max_per_customer: null,
        low_stock_threshold: 2,
        expected_version: 1,
      });
      expect(changed.status).toBe(200);
      expect(changed.body).toEqual({
        sku,
        name: 'Mug',
        available: 5,
        on_hold: 0,
        sold: 0,
        max_per_customer: null,
        low_stock_threshold: 2,
        archived: false,
        version: 2,
        updated_at: changed.body.updated_at,
      });
      expect(await read(sku)).toEqual(changed.body);
      const ledger = (await api.get(`/v1/skus/${sku}/ledger`)).body.items;
      expect(ledger.map((entry: { kind: string }) => entry.kind)).toEqual(['create', 'update']);
      expect(ledger[1]).toMatchObject({
        seq: 2,
        delta_available: 0,
        reason: 'updated name, max_per_customer, low_stock_threshold',
      });
    });

    it('refuses a stale expected_version with the current version, and an empty body; nothing changes', async () => {
      const sku = await newSku(5);
      await checkout(sku, 1);
      const before = await read(sku);
      const stale = await patch(sku, { archived: true, expected_version: 1 });
      expect(stale.status).toBe(409);
      expect(stale.body.error).toMatchObject({
        code: 'version_conflict',
        details: { sku, version: 2, expected_version: 1 },
      });
      expect((await patch(sku, {})).status).toBe(400);
      expect((await patch(sku, { expected_version: 2 })).status).toBe(400);
      expect((await patch(sku, { archived: 'yes' })).status).toBe(400);
      expect((await patch('nope', { archived: true })).status).toBe(404);
      expect(await read(sku)).toEqual(before);
    });

    it('replays the first answer for the same Idempotency-Key', async () => {
      const sku = await newSku(5);
      const key = { 'idempotency-key': `patch-${sku}` };
      const first = await patch(sku, { name: 'One' }, key);
      await patch(sku, { name: 'Two' });
      const again = await patch(sku, { name: 'One' }, key);
      expect(again.status).toBe(200);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
      expect(again.body).toEqual(first.body);
      expect((await read(sku)).name).toBe('Two');
      expect((await patch(sku, { name: 'Three' }, key)).body.error.code).toBe('idempotency_key_reused');
    });

    it('applies a new max_per_customer to the checkouts after it', async () => {
      const sku = await newSku(10);
      expect((await checkout(sku, 2)).status).toBe(201);
      expect((await patch(sku, { max_per_customer: 3 })).status).toBe(200);
      const over = await checkout(sku, 2);
      expect(over.status).toBe(409);
      expect(over.body.error.code).toBe('limit_exceeded');
      expect((await checkout(sku, 1)).status).toBe(201);
    });
  });

  describe('an archived SKU', () => {
    it('refuses new checkouts naming the SKU, still reads, and is listed only with archived=true', async () => {
      const sku = await newSku(5);
      const other = await newSku(5);
      expect((await patch(sku, { archived: true })).body).toMatchObject({ archived: true, version: 2 });
      const refused = await api.post('/v1/orders', {
        customer_id: 'alice',
        lines: [
          { sku: other, quantity: 1 },
          { sku, quantity: 1 },
        ],
      });
      expect(refused.status).toBe(409);
      expect(refused.body.error).toMatchObject({ code: 'sku_archived', details: { skus: [sku] } });
      expect(refused.body.error.message).toContain(sku);
      expect(await read(other)).toMatchObject({ available: 5, on_hold: 0 });
      expect((await api.get(`/v1/skus/${sku}`)).status).toBe(200);

      const listed = async (query: string) =>
        ((await api.get(`/v1/skus?limit=500${query}`)).body.items as { sku: string }[]).map(
          (item) => item.sku,
        );
      expect(await listed('')).toContain(other);
      expect(await listed('')).not.toContain(sku);
      expect(await listed('&archived=true')).toEqual(expect.arrayContaining([sku, other]));
      expect(await listed('&archived=false')).not.toContain(sku);

      expect((await patch(sku, { archived: false })).status).toBe(200);
      expect((await checkout(sku, 1)).status).toBe(201);
    });

    it('lets existing holds be paid, cancelled and expire, and takes counts and adjustments', async () => {
      const sku = await newSku(10);
      const paid = (await checkout(sku, 2)).body.id;
      const cancelled = (await checkout(sku, 3)).body.id;
      const expiring = (await checkout(sku, 1)).body.id;
      expect((await patch(sku, { archived: true })).status).toBe(200);
      expect((await api.post(`/v1/orders/${paid}/payment`, { payment_id: `p-${sku}` })).body.status).toBe(
        'paid',
      );
      expect((await api.post(`/v1/orders/${cancelled}/cancel`)).body.status).toBe('cancelled');
      clock.advance(61_000);
      expect(await server.store.sweepExpired(clock.now(), 1000)).toBeGreaterThanOrEqual(1);
      expect((await api.get(`/v1/orders/${expiring}`)).body.status).toBe('expired');
      expect((await api.post(`/v1/skus/${sku}/adjustments`, { delta: 1 })).status).toBe(200);
      expect((await count(sku, { unsold: 4 })).status).toBe(200);
      expect(await read(sku)).toMatchObject({ available: 4, on_hold: 0, sold: 2, archived: true });
    });
  });

  describe('DELETE /v1/skus/{sku}', () => {
    it('removes a SKU that never moved, with its ledger: 204, then 404', async () => {
      const sku = await newSku(7);
      const after = await server.store.lastEventId();
      const deleted = await api.raw('DELETE', `/v1/skus/${sku}`);
      expect(deleted.status).toBe(204);
      expect(deleted.body).toBeNull();
      expect((await api.get(`/v1/skus/${sku}`)).status).toBe(404);
      expect((await api.get(`/v1/skus/${sku}/ledger`)).status).toBe(404);
      expect(await server.store.ledger(sku, 10)).toEqual([]);
      expect(await eventsOf(sku, after)).toEqual(['sku.deleted']);
      expect((await api.raw('DELETE', `/v1/skus/${sku}`)).status).toBe(404);
      // The id is free again, and starts a new history.
      expect((await api.post('/v1/skus', { sku, available: 1 })).body).toMatchObject({ version: 1 });
    });

    it('refuses a SKU with an order, a movement or a change (409 sku_in_use); nothing changes', async () => {
      const ordered = await newSku(5);
      const order = (await checkout(ordered, 1)).body.id;
      await api.post(`/v1/orders/${order}/cancel`);
      const adjusted = await newSku(5);
      await api.post(`/v1/skus/${adjusted}/adjustments`, { delta: 1 });
      const renamed = await newSku(5);
      await patch(renamed, { name: 'renamed' });
      for (const sku of [ordered, adjusted, renamed]) {
        const before = await read(sku);
        const refused = await api.raw('DELETE', `/v1/skus/${sku}`);
        expect(refused.status, sku).toBe(409);
        expect(refused.body.error).toMatchObject({ code: 'sku_in_use', details: { sku } });
        expect(await read(sku)).toEqual(before);
      }
    });

    it('replays a delete by its Idempotency-Key as 204', async () => {
      const sku = await newSku(0);
      const key = { 'idempotency-key': `delete-${sku}` };
      expect((await api.raw('DELETE', `/v1/skus/${sku}`, undefined, key)).status).toBe(204);
      const again = await api.raw('DELETE', `/v1/skus/${sku}`, undefined, key);
      expect(again.status).toBe(204);
      expect(again.headers.get('idempotent-replayed')).toBe('true');
    });
  });

  describe('POST /v1/skus/{sku}/count', () => {
    it('sets available to unsold - on_hold in one count movement, the holds untouched', async () => {
      const sku = await newSku(10);
      const order = (await checkout(sku, 3)).body.id;
      await api.post(`/v1/orders/${(await checkout(sku, 2)).body.id}/payment`, { payment_id: `p-${sku}` });
      const after = await server.store.lastEventId();
      const counted = await count(sku, { unsold: 7, reason: 'stocktake', expected_version: 4 });
      expect(counted.status).toBe(200);
      expect(counted.body).toMatchObject({ available: 4, on_hold: 3, sold: 2, version: 5 });
      const ledger = (await api.get(`/v1/skus/${sku}/ledger?order=newest&limit=1`)).body.items;
      expect(ledger[0]).toMatchObject({
        kind: 'count',
        delta_available: -1,
        delta_on_hold: 0,
        delta_sold: 0,
        available_after: 4,
        reason: 'stocktake',
      });
      expect(await eventsOf(sku, after)).toEqual(['sku.counted']);
      // The hold is whole: paying it sells all three.
      expect((await api.post(`/v1/orders/${order}/payment`, { payment_id: `q-${sku}` })).status).toBe(200);
      expect(await read(sku)).toMatchObject({ available: 4, on_hold: 0, sold: 5 });
    });

    it('refuses a count below the holds naming on_hold, and a stale version; nothing changes', async () => {
      const sku = await newSku(10);
      await checkout(sku, 4);
      const before = await read(sku);
      const below = await count(sku, { unsold: 3 });
      expect(below.status).toBe(409);
      expect(below.body.error).toMatchObject({
        code: 'count_below_holds',
        details: { sku, on_hold: 4, unsold: 3 },
      });
      const stale = await count(sku, { unsold: 20, expected_version: 1 });
      expect(stale.body.error).toMatchObject({ code: 'version_conflict', details: { version: 2 } });
      expect((await count(sku, { unsold: -1 })).status).toBe(400);
      expect((await count('nope', { unsold: 1 })).status).toBe(404);
      expect(await read(sku)).toEqual(before);
      // Exactly the holds: nothing left available.
      expect((await count(sku, { unsold: 4 })).body).toMatchObject({ available: 0, on_hold: 4 });
    });
  });

  describe('stock events', () => {
    it('low_stock and sold_out once per crossing, back_in_stock when available rises from 0', async () => {
      const sku = await newSku(5);
      await patch(sku, { low_stock_threshold: 2 });
      const after = await server.store.lastEventId();
      await checkout(sku, 1); // 4: above the threshold
      await checkout(sku, 2); // 2: onto it
      await checkout(sku, 1); // 1: still below, no second event
      await checkout(sku, 1); // 0
      await api.post(`/v1/skus/${sku}/adjustments`, { delta: 3 }); // 3: back, above the threshold
      await checkout(sku, 1); // 2: a new crossing
      expect((await eventsOf(sku, after)).filter((type) => !type.startsWith('order.'))).toEqual([
        'sku.low_stock',
        'sku.sold_out',
        'sku.adjusted',
        'sku.back_in_stock',
        'sku.low_stock',
      ]);
      const events = await server.store.eventsAfter(after, 1000);
      expect(events.find((event) => event.type === 'sku.sold_out')?.data).toMatchObject({
        sku: { sku, available: 0 },
        available_before: 1,
      });
    });

    it('emits one low_stock and one sold_out for a burst of checkouts in one group commit', async () => {
      const sku = await newSku(40, {});
      await patch(sku, { low_stock_threshold: 10 });
      const after = await server.store.lastEventId();
      const results = await Promise.all(
        Array.from({ length: 60 }, (_, index) => checkout(sku, 1, `c${index}`)),
      );
      expect(results.filter((result) => result.status === 201)).toHaveLength(40);
      const stock = (await eventsOf(sku, after)).filter((type) => !type.startsWith('order.'));
      expect(stock).toEqual(['sku.low_stock', 'sku.sold_out']);
    });

    it('emits back_in_stock when an expiry returns units to a sold-out SKU (sweep and lazy reclaim)', async () => {
      const swept = await newSku(1);
      const reclaimed = await newSku(1);
      await checkout(swept, 1);
      await checkout(reclaimed, 1);
      const after = await server.store.lastEventId();
      clock.advance(61_000);
      // A checkout of the sold-out SKU reclaims the expired hold first, then takes the unit again.
      expect((await checkout(reclaimed, 1, 'bob')).status).toBe(201);
      await server.store.sweepExpired(clock.now(), 1000);
      expect((await eventsOf(swept, after)).filter((type) => type.startsWith('sku.'))).toEqual([
        'sku.back_in_stock',
      ]);
      // Within one transaction it went 0 -> 1 -> 0: the state after the commit never crossed.
      expect((await eventsOf(reclaimed, after)).filter((type) => type.startsWith('sku.'))).toEqual([]);
    });

    it('are streamed on /v1/events like every event', async () => {
      const sku = await newSku(1);
      const after = await server.store.lastEventId();
      await checkout(sku, 1);
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/events`, {
        headers: { 'last-event-id': String(after) },
        signal: controller.signal,
      });
      const reader = response.body!.getReader();
      let text = '';
      while (!text.includes('sku.sold_out')) {
        const { value, done } = await reader.read();
        if (done) break;
        text += new TextDecoder().decode(value);
      }
      controller.abort();
      expect(text).toContain('event: sku.sold_out');
    });
  });

  it('keeps the stock conserved and the ledger a chain after a mix of every SKU command', async () => {
    const sku = await newSku(20, { max_per_customer: 5 });
    const orders: string[] = [];
    for (let index = 0; index < 6; index++) orders.push((await checkout(sku, 2, `m${index}`)).body.id);
    await patch(sku, { low_stock_threshold: 5, name: 'mixed' });
    await count(sku, { unsold: 30 });
    await api.post(`/v1/orders/${orders[0]}/payment`, { payment_id: `mix-${sku}` });
    await api.post(`/v1/orders/${orders[1]}/cancel`);
    await patch(sku, { archived: true });
    await count(sku, { unsold: 9 });
    await api.post(`/v1/skus/${sku}/adjustments`, { delta: -1 });
    clock.advance(61_000);
    await server.store.sweepExpired(clock.now(), 1000);
    // Versions: creation, 6 holds, PATCH, count, payment, cancel, archive, count, adjustment, 4 expiries.
    expect(await read(sku)).toMatchObject({ available: 8, on_hold: 0, sold: 2, version: 18 });
  });
});
