// DNS rebinding: a webhook host name that passed the target policy when it was checked, but resolves
// to a private address when the delivery connects, gets nothing: delivery resolves the name through
// the policy's guarded lookup, so the address connected to is the address checked.
import { afterAll, beforeAll, expect, it } from 'vitest';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { eventually, type Receiver, startReceiver } from './receiver.ts';

let server: TestServer;
let receiver: Receiver;

beforeAll(async () => {
  server = await startTestServer({
    env: {
      WEBHOOK_ALLOW_PRIVATE_TARGETS: 'false',
      WEBHOOK_POLL_INTERVAL_MS: '10',
      WEBHOOK_ATTEMPTS_MAX: '1',
    },
    sweeper: false,
    // Stands in for a name whose answer was public when checked (registration, before the attempt).
    check_target: async () => {},
  });
  receiver = await startReceiver();
});

afterAll(async () => {
  await server.dispose();
  await receiver.close();
});

it('does not deliver to a name that resolves to a private address when the delivery connects', async () => {
  const api = apiClient(server.url);
  // `localhost` resolves to 127.0.0.1, where the receiver listens.
  const url = receiver.url.replace('127.0.0.1', 'localhost');
  const endpoint = await api.post('/v1/webhooks', { url, event_types: ['sku.created'] });
  expect(endpoint.status).toBe(201);
  expect((await api.post('/v1/skus', { sku: 'rebound', available: 1 })).status).toBe(201);

  await eventually(async () => {
    const { body } = await api.get(`/v1/webhooks/${endpoint.body.id}/deliveries?status=failed`);
    return body.items.length === 1;
  }, 'the delivery failed');
  const { body } = await api.get(`/v1/webhooks/${endpoint.body.id}/deliveries`);
  expect(body.items[0]).toMatchObject({ status: 'failed', attempts: 1, last_error: 'EWEBHOOKTARGET' });
  expect(receiver.received).toEqual([]);
});
