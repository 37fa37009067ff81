// Issue 19: a hanging webhook receiver delays only itself. One receiver never answers (its attempts
// wait out a long timeout), another answers at once: the healthy one gets every event within a
// bounded wait, and the hanging one never holds more than its in-flight limit. On both databases
// (the claim of due deliveries is per dialect).
import { afterEach, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';
import { eventually, type Receiver, startReceiver } from './receiver.ts';

const ORDERS = 40;
const ENDPOINT_IN_FLIGHT_MAX = 4;

let server: TestServer | undefined;
let database: TestDatabase | undefined;
const receivers: Receiver[] = [];

afterEach(async () => {
  // Receivers first: closing the hanging one ends its attempts, so the worker stops at once.
  for (const receiver of receivers.splice(0)) await receiver.close();
  await server?.dispose();
  await database?.drop();
  server = undefined;
  database = undefined;
});

for (const dialect of DIALECTS) {
  describe(`independent endpoints on ${dialect}`, () => {
    it('a hanging endpoint delays only itself: the healthy one gets every event', async () => {
      database = dialect === 'postgres' ? await createTestDatabase('stockhold_webhooks') : undefined;
      server = await startTestServer({
        database_url: database?.url,
        sweeper: false,
        env: {
          WEBHOOK_POLL_INTERVAL_MS: '20',
          // Far longer than the test waits: an attempt to the hanging receiver never ends by itself.
          WEBHOOK_TIMEOUT_MS: '120000',
          WEBHOOK_ENDPOINT_IN_FLIGHT_MAX: String(ENDPOINT_IN_FLIGHT_MAX),
        },
      });
      const api = apiClient(server.url);
      const hanging = await startReceiver(() => 'hang');
      const healthy = await startReceiver(() => 200);
      receivers.push(hanging, healthy);
      for (const receiver of [hanging, healthy]) {
        const created = await api.post('/v1/webhooks', { url: receiver.url, event_types: ['order.held'] });
        expect(created.status).toBe(201);
      }
      expect((await api.post('/v1/skus', { sku: 'hook', available: 1000 })).status).toBe(201);
      const order_ids: string[] = [];
      for (let index = 0; index < ORDERS; index++) {
        const order = await api.post('/v1/orders', {
          customer_id: `c-${index}`,
          lines: [{ sku: 'hook', quantity: 1 }],
        });
        expect(order.status).toBe(201);
        order_ids.push(order.body.id);
      }

      await eventually(
        () => healthy.received.length >= ORDERS,
        `the healthy endpoint gets all ${ORDERS} events while the other hangs`,
      );
      expect(healthy.received.map((request) => request.event.subject_id).sort()).toEqual(
        [...order_ids].sort(),
      );
      // The hanging endpoint holds its own slots, no more: none of its attempts has ended.
      expect(hanging.received.length).toBeGreaterThanOrEqual(1);
      expect(hanging.received.length).toBeLessThanOrEqual(ENDPOINT_IN_FLIGHT_MAX);
    });
  });
}
