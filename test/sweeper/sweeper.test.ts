// The sweeper on its own schedule, with the real clock: a short hold lapses and its stock returns
// to available without anyone asking.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { EVENT_RETENTION_MS } from '../../src/webhooks/retention.ts';
import { expectConservation } from '../support/invariants.ts';
import { apiClient, startTestServer } from '../support/server.ts';

async function until<T>(
  probe: () => Promise<T>,
  done: (value: T) => boolean,
  attempts_max = 200,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    const value = await probe();
    if (done(value) || attempt >= attempts_max) return value;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

describe('the expiry sweeper', () => {
  it('returns the holds of an unpaid order after its deadline, by itself', async () => {
    const server = await startTestServer({ env: { SWEEP_INTERVAL_MS: '20' } });
    try {
      const api = apiClient(server.url);
      await api.post('/v1/skus', { sku: 'scarf', available: 4 });
      const order = await api.post('/v1/orders', {
        customer_id: 'c',
        lines: [{ sku: 'scarf', quantity: 3 }],
        hold_seconds: 1,
      });
      expect((await api.get('/v1/skus/scarf')).body).toMatchObject({ available: 1, on_hold: 3 });
      const expired = await until(
        () => api.get(`/v1/orders/${order.body.id}`),
        (answer) => answer.body.status === 'expired',
      );
      expect(expired.body.status).toBe('expired');
      expect((await api.get('/v1/skus/scarf')).body).toMatchObject({ available: 4, on_hold: 0, sold: 0 });
      await expectConservation(server.store);
    } finally {
      await server.dispose();
    }
  });

  it('releases a backlog larger than one batch in one sweep, and only what is due', async () => {
    const clock = new ManualClock();
    const server = await startTestServer({ clock, env: { SWEEP_BATCH_SIZE: '7' }, sweeper: false });
    try {
      const api = apiClient(server.url);
      await api.post('/v1/skus', { sku: 'sock', available: 100 });
      for (let i = 0; i < 30; i++) {
        await api.post('/v1/orders', {
          customer_id: `c${i}`,
          lines: [{ sku: 'sock', quantity: 2 }],
          hold_seconds: 10,
        });
      }
      await api.post('/v1/orders', {
        customer_id: 'late',
        lines: [{ sku: 'sock', quantity: 1 }],
        hold_seconds: 11,
      });
      clock.advance(10_000);
      expect(await server.sweeper.sweepOnce()).toBe(30);
      expect((await api.get('/v1/skus/sock')).body).toMatchObject({ available: 99, on_hold: 1 });
      await expectConservation(server.store);
    } finally {
      await server.dispose();
    }
  });
});

describe('the retention purges', () => {
  it('forget outbox events after their 7 days even when no process runs the webhook worker', async () => {
    const clock = new ManualClock();
    const server = await startTestServer({ clock, env: { WEBHOOKS_WORKER: 'off' }, sweeper: false });
    try {
      const api = apiClient(server.url);
      await api.post('/v1/skus', { sku: 'first', available: 1 });
      await api.post('/v1/skus', { sku: 'second', available: 1 });
      clock.advance(EVENT_RETENTION_MS);
      await api.post('/v1/skus', { sku: 'third', available: 1 });
      const subjects = async () => (await server.store.eventsAfter(0, 10)).map((event) => event.subject_id);
      expect(await subjects()).toEqual(['first', 'second', 'third']);
      // Exactly 7 days old: still kept.
      expect(await server.sweeper.purgeRetained()).toMatchObject({ 'outbox events': 0 });
      clock.advance(1);
      expect(await server.sweeper.purgeRetained()).toMatchObject({
        'outbox events': 2,
        'finished webhook deliveries': 0,
        'idempotency keys': 0,
      });
      expect(await subjects()).toEqual(['third']);
    } finally {
      await server.dispose();
    }
  });
});
