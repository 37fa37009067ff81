// Webhooks end to end on a real SQLite file: registration through the API, signed deliveries to a
// real local receiver, in order per order, retries with back-off through failures and timeouts,
// giving up after the last attempt, and deletion.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { EVENT_ID_HEADER, SIGNATURE_HEADER, verifySignature } from '../../src/webhooks/signature.ts';
import { backoffDelayMs } from '../../src/webhooks/worker.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { eventually, type Receiver, signatureIsValid, startReceiver } from './receiver.ts';

let server: TestServer;
let api: ReturnType<typeof apiClient>;
const receivers: Receiver[] = [];
let sku_counter = 0;

beforeAll(async () => {
  server = await startTestServer({
    env: {
      WEBHOOK_POLL_INTERVAL_MS: '10',
      WEBHOOK_BACKOFF_BASE_MS: '5',
      WEBHOOK_BACKOFF_MAX_MS: '40',
      WEBHOOK_TIMEOUT_MS: '1000',
      WEBHOOK_ATTEMPTS_MAX: '4',
    },
    sweeper: false,
    // The target policy hook (issue 10 supplies the real one): here it refuses one host name.
    check_target: async (url) => {
      if (url.hostname === 'forbidden.example') throw new Error('this host is not allowed');
    },
  });
  api = apiClient(server.url);
});
afterAll(async () => {
  await server.dispose();
  for (const receiver of receivers) await receiver.close();
});
afterEach(async () => {
  // Each test's endpoints go away, so the next test's receivers see only their own deliveries.
  const { body } = await api.get('/v1/webhooks');
  for (const endpoint of body.items) await api.raw('DELETE', `/v1/webhooks/${endpoint.id}`);
});

async function receiver(respond?: Parameters<typeof startReceiver>[0]): Promise<Receiver> {
  const started = await startReceiver(respond);
  receivers.push(started);
  return started;
}

async function register(url: string, extra: Record<string, unknown> = {}) {
  const created = await api.post('/v1/webhooks', { url, ...extra });
  expect(created.status).toBe(201);
  return created.body as { id: string; secret: string; url: string };
}

async function newSku(available: number): Promise<string> {
  const sku = `wh-${++sku_counter}`;
  expect((await api.post('/v1/skus', { sku, available })).status).toBe(201);
  return sku;
}

async function checkout(sku: string, quantity = 1): Promise<string> {
  const order = await api.post('/v1/orders', { customer_id: 'c1', lines: [{ sku, quantity }] });
  expect(order.status).toBe(201);
  return order.body.id;
}

describe('webhook endpoints API', () => {
  it('generates a secret shown only at creation, lists and reads endpoints without it', async () => {
    const created = await register('https://shop.example/hooks', { event_types: ['order.paid'] });
    expect(created.secret).toMatch(/^whsec_[A-Za-z0-9_-]{43}$/);
    const listed = await api.get('/v1/webhooks');
    expect(listed.body.items).toEqual([
      expect.objectContaining({
        id: created.id,
        url: 'https://shop.example/hooks',
        event_types: ['order.paid'],
      }),
    ]);
    expect(JSON.stringify(listed.body)).not.toContain(created.secret);
    const read = await api.get(`/v1/webhooks/${created.id}`);
    expect(read.status).toBe(200);
    expect(read.body.secret).toBeUndefined();
  });

  it('refuses URLs that are not http(s), carry credentials, or fail the target policy, with invalid_request', async () => {
    for (const url of [
      'ftp://shop.example/x',
      'not a url',
      'https://user:pw@shop.example/x',
      'https://forbidden.example/x',
    ]) {
      const refused = await api.post('/v1/webhooks', { url });
      expect(refused.status, url).toBe(400);
      expect(refused.body.error.code).toBe('invalid_request');
    }
    const bad_type = await api.post('/v1/webhooks', {
      url: 'https://shop.example',
      event_types: ['order.nope'],
    });
    expect(bad_type.status).toBe(400);
    const short_secret = await api.post('/v1/webhooks', { url: 'https://shop.example', secret: 'short' });
    expect(short_secret.status).toBe(400);
    expect((await api.get('/v1/webhooks')).body.items).toEqual([]);
  });

  it('answers not_found for an unknown endpoint, and for a second delete', async () => {
    expect((await api.get('/v1/webhooks/nope')).body.error.code).toBe('not_found');
    expect((await api.get('/v1/webhooks/nope/deliveries')).status).toBe(404);
    const created = await register('https://shop.example/hooks');
    expect((await api.raw('DELETE', `/v1/webhooks/${created.id}`)).status).toBe(204);
    expect((await api.raw('DELETE', `/v1/webhooks/${created.id}`)).status).toBe(404);
    expect((await api.get(`/v1/webhooks/${created.id}`)).status).toBe(404);
  });
});

describe('webhook delivery', () => {
  it('delivers every event of an order in order, with a valid signature and the event id header', async () => {
    const target = await receiver();
    const endpoint = await register(target.url, { secret: 'a-test-secret-of-some-length' });
    const sku = await newSku(3);
    const order_id = await checkout(sku);
    expect((await api.post(`/v1/orders/${order_id}/payment`, { payment_id: 'p1' })).status).toBe(200);

    await eventually(() => target.received.length >= 3, 'three deliveries');
    expect(target.received.map((r) => [r.event.type, r.event.subject_id])).toEqual([
      ['sku.created', sku],
      ['order.held', order_id],
      ['order.paid', order_id],
    ]);
    const ids = target.received.map((r) => r.event.id);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
    for (const request of target.received) {
      expect(
        signatureIsValid(endpoint.secret, request.headers[SIGNATURE_HEADER] as string, request.body),
      ).toBe(true);
      expect(
        verifySignature(
          endpoint.secret,
          request.headers[SIGNATURE_HEADER] as string,
          request.body,
          Date.now() / 1000,
        ),
      ).toBe(true);
      expect(
        signatureIsValid(
          'another-secret-entirely',
          request.headers[SIGNATURE_HEADER] as string,
          request.body,
        ),
      ).toBe(false);
      expect(request.headers[EVENT_ID_HEADER]).toBe(String(request.event.id));
      expect(request.headers['content-type']).toBe('application/json');
    }
    expect(target.received[2]!.event.data.order.status).toBe('paid');
  });

  it('sends only the event types an endpoint asked for', async () => {
    const target = await receiver();
    await register(target.url, { event_types: ['order.cancelled'] });
    const sku = await newSku(2);
    const order_id = await checkout(sku);
    expect((await api.post(`/v1/orders/${order_id}/cancel`)).status).toBe(200);
    await eventually(() => target.received.length >= 1, 'the cancel delivery');
    expect(target.received.map((r) => r.event.type)).toEqual(['order.cancelled']);
  });

  it('retries through a 500 and a timeout, then delivers once the receiver recovers, never out of order', async () => {
    // The first request fails with 500, the second never answers (timeout), then all succeed.
    const target = await receiver(({ index }) => (index === 0 ? 500 : index === 1 ? 'hang' : 200));
    const endpoint = await register(target.url, { event_types: ['order.held', 'order.cancelled'] });
    const sku = await newSku(2);
    const order_id = await checkout(sku);
    expect((await api.post(`/v1/orders/${order_id}/cancel`)).status).toBe(200);

    await eventually(
      () => target.received.filter((r) => r.answer === 200).length >= 2,
      'both events accepted after the receiver recovered',
    );
    expect(target.received.map((r) => [r.event.type, r.answer])).toEqual([
      ['order.held', 500],
      ['order.held', 'hang'],
      ['order.held', 200],
      ['order.cancelled', 200],
    ]);

    await eventually(async () => {
      const { body } = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`);
      return body.items.every((d: { status: string }) => d.status === 'succeeded');
    }, 'deliveries marked succeeded');
    const { body } = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`);
    const [cancelled, held] = body.items;
    expect(cancelled).toMatchObject({ event_type: 'order.cancelled', status: 'succeeded', attempts: 1 });
    expect(held).toMatchObject({
      event_type: 'order.held',
      subject_id: order_id,
      status: 'succeeded',
      attempts: 3,
    });
    expect(
      held.attempt_log.map((a: { attempt_no: number; status_code: number | null }) => [
        a.attempt_no,
        a.status_code,
      ]),
    ).toEqual([
      [1, 500],
      [2, null],
      [3, 200],
    ]);
    expect(held.attempt_log[0].error).toBe('HTTP 500');
    expect(held.attempt_log[1].error).toBe('no answer within 1000 ms');
    expect(held.attempt_log[2].error).toBeNull();
  });

  it('gives up after the last allowed attempt and shows the delivery as failed', async () => {
    const target = await receiver(() => 503);
    const endpoint = await register(target.url, { event_types: ['order.held'] });
    const sku = await newSku(1);
    await checkout(sku);
    await eventually(async () => {
      const { body } = await api.get(`/v1/webhooks/${endpoint.id}/deliveries?status=failed`);
      return body.items.length === 1;
    }, 'the delivery failed for good');
    const { body } = await api.get(`/v1/webhooks/${endpoint.id}/deliveries`);
    expect(body.items[0]).toMatchObject({ status: 'failed', attempts: 4, last_error: 'HTTP 503' });
    expect(body.items[0].attempt_log).toHaveLength(4);
    expect(target.received).toHaveLength(4);

    // Finished deliveries are forgotten after their retention, with their attempts.
    expect(await server.store.webhooks.purgeFinished(Date.now() + 1, 1000)).toBeGreaterThanOrEqual(1);
    expect((await api.get(`/v1/webhooks/${endpoint.id}/deliveries`)).body.items).toEqual([]);
  });

  it('stops delivering to a deleted endpoint', async () => {
    const failing = await receiver(() => 500);
    const healthy = await receiver();
    const doomed = await register(failing.url, { event_types: ['order.held'] });
    await register(healthy.url, { event_types: ['order.held'] });
    const sku = await newSku(5);
    await checkout(sku);
    await eventually(() => failing.received.length >= 1 && healthy.received.length >= 1, 'first deliveries');

    expect((await api.raw('DELETE', `/v1/webhooks/${doomed.id}`)).status).toBe(204);
    const received_at_delete = failing.received.length;
    const later_order = await checkout(sku);
    await eventually(
      () => healthy.received.some((r) => r.event.subject_id === later_order),
      'the healthy endpoint gets the later event',
    );
    // At most the one attempt that was already on the wire when the endpoint was deleted.
    expect(failing.received.length).toBeLessThanOrEqual(received_at_delete + 1);
    expect(failing.received.some((r) => r.event.subject_id === later_order)).toBe(false);
    const deliveries = await server.store.webhooks.listDeliveries(doomed.id, { limit: 10 });
    expect(deliveries.map((d) => d.status)).toEqual(['cancelled']);
  });
});

describe('back-off', () => {
  it('doubles from the base up to the cap, with jitter between half and all of it', () => {
    const options = { backoff_base_ms: 1000, backoff_max_ms: 60_000 };
    expect([1, 2, 3, 4].map((n) => backoffDelayMs(n, options, () => 1))).toEqual([1000, 2000, 4000, 8000]);
    expect(backoffDelayMs(3, options, () => 0)).toBe(2000);
    expect(backoffDelayMs(40, options, () => 1)).toBe(60_000);
  });
});
