// Stop the server and start it again on the same SQLite file: everything answered before is there,
// and holds taken before the restart still expire after it (deadlines live in the database).
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { expectConservation } from '../support/invariants.ts';
import { apiClient, startTestServer, temporarySqliteUrl } from '../support/server.ts';

describe('restart on the same database file', () => {
  it('keeps every SKU, order, ledger entry and idempotency key, and expires old holds afterwards', async () => {
    const { url } = temporarySqliteUrl();
    const clock = new ManualClock();
    const first = await startTestServer({ database_url: url, clock, sweeper: false });
    let api = apiClient(first.url);
    await api.post('/v1/skus', { sku: 'lamp', available: 10 });
    const paid = await api.post('/v1/orders', { customer_id: 'a', lines: [{ sku: 'lamp', quantity: 2 }] });
    await api.post(`/v1/orders/${paid.body.id}/payment`, { payment_id: 'pay-a' });
    const pending = await api.post(
      '/v1/orders',
      { customer_id: 'b', lines: [{ sku: 'lamp', quantity: 3 }], hold_seconds: 60 },
      { 'Idempotency-Key': 'order-b' },
    );
    const ledger_before = (await api.get('/v1/skus/lamp/ledger')).body;
    await first.stop();

    const second = await startTestServer({ database_url: url, clock, sweeper: false });
    try {
      api = apiClient(second.url);
      expect((await api.get('/v1/skus/lamp')).body).toMatchObject({ available: 5, on_hold: 3, sold: 2 });
      expect((await api.get(`/v1/orders/${paid.body.id}`)).body).toMatchObject({
        status: 'paid',
        payment_id: 'pay-a',
      });
      expect((await api.get('/v1/skus/lamp/ledger')).body).toEqual(ledger_before);
      const replay = await api.post(
        '/v1/orders',
        { customer_id: 'b', lines: [{ sku: 'lamp', quantity: 3 }], hold_seconds: 60 },
        { 'Idempotency-Key': 'order-b' },
      );
      expect(replay.body).toEqual(pending.body);

      clock.advance(60_000);
      expect(await second.sweeper.sweepOnce()).toBe(1);
      expect((await api.get(`/v1/orders/${pending.body.id}`)).body.status).toBe('expired');
      expect((await api.get('/v1/skus/lamp')).body).toMatchObject({ available: 8, on_hold: 0, sold: 2 });
      await expectConservation(second.store);
    } finally {
      await second.dispose();
    }
  });
});
