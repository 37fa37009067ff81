// The event stream: every order change and SKU change arrives live, and a client that reconnects
// with Last-Event-ID gets exactly what it missed.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { eventually } from '../webhooks/receiver.ts';

let server: TestServer;
let api: ReturnType<typeof apiClient>;
beforeAll(async () => {
  server = await startTestServer();
  api = apiClient(server.url);
});
afterAll(() => server.dispose());

interface StreamedEvent {
  id: number;
  type: string;
  subject_id: string;
  data: any;
}

/** Reads the SSE stream until `count` events arrived; aborts the request afterwards. */
async function readEvents(
  count: number,
  headers: Record<string, string> = {},
  started?: () => void,
  base_url = server.url,
) {
  const controller = new AbortController();
  const response = await fetch(`${base_url}/v1/events`, { headers, signal: controller.signal });
  expect(response.headers.get('content-type')).toContain('text/event-stream');
  started?.();
  const events: StreamedEvent[] = [];
  const decoder = new TextDecoder();
  let buffer = '';
  const reader = response.body!.getReader();
  while (events.length < count) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += decoder.decode(value, { stream: true });
    let end = buffer.indexOf('\n\n');
    while (end >= 0) {
      const block = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const data = block.split('\n').find((line) => line.startsWith('data: '));
      if (data) events.push(JSON.parse(data.slice(6)));
      end = buffer.indexOf('\n\n');
    }
  }
  controller.abort();
  return events;
}

describe('GET /v1/events', () => {
  it('streams order and sku events live, with the buckets after each change', async () => {
    let ready!: () => void;
    const connected = new Promise<void>((resolve) => {
      ready = resolve;
    });
    const reading = readEvents(4, {}, ready);
    await connected;
    await api.post('/v1/skus', { sku: 'kettle', available: 3 });
    const order = await api.post('/v1/orders', { customer_id: 'c', lines: [{ sku: 'kettle', quantity: 2 }] });
    await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'p' });
    await api.post('/v1/skus/kettle/adjustments', { delta: 5 });
    const events = await reading;
    expect(events.map((event) => event.type)).toEqual([
      'sku.created',
      'order.held',
      'order.paid',
      'sku.adjusted',
    ]);
    expect(events[1]!.subject_id).toBe(order.body.id);
    expect(events[2]!.data.skus).toEqual([{ sku: 'kettle', available: 1, on_hold: 0, sold: 2 }]);
    expect(events[3]!.data.sku).toMatchObject({ available: 6 });
  });

  it('resumes after Last-Event-ID with exactly the events that came after it', async () => {
    const all = await readEvents(4, { 'last-event-id': '0' });
    const resumed = await readEvents(2, { 'last-event-id': String(all[1]!.id) });
    expect(resumed.map((event) => event.id)).toEqual([all[2]!.id, all[3]!.id]);
  });

  it('refuses a malformed Last-Event-ID', async () => {
    const answer = await api.get('/v1/events', { 'last-event-id': 'yesterday' });
    expect(answer.status).toBe(400);
    expect(answer.body.error.code).toBe('invalid_request');
  });
});

describe('GET /v1/events, a subscriber that does not read', () => {
  it('is disconnected once its bytes stop draining, and resumes with Last-Event-ID where it got to', async () => {
    const slow = await startTestServer({
      env: {
        EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX: '262144',
        EVENTS_STALL_TIMEOUT_MS: '300',
        WEBHOOKS_WORKER: 'off',
      },
      sweeper: false,
    });
    try {
      // A backlog larger than the kernel's socket buffers take (about 5.5 MB: 1000 orders of 50 lines).
      const skus = Array.from({ length: 50 }, (_, index) => `slow-${index}`);
      await slow.store.execute(
        skus.map((sku) => ({
          command: { kind: 'create_sku' as const, sku, name: sku, available: 10_000, max_per_customer: null },
        })),
        Date.now(),
      );
      for (let start = 0; start < 1000; start += 100) {
        await slow.store.execute(
          Array.from({ length: 100 }, (_, index) => ({
            command: {
              kind: 'checkout' as const,
              order_id: `slow-order-${start + index}`,
              customer_id: 'c',
              lines: skus.map((sku) => ({ sku, quantity: 1 })),
              hold_seconds: 86_400,
            },
          })),
          Date.now(),
        );
      }
      const last_id = await slow.store.lastEventId();

      const socket = connect(Number(new URL(slow.url).port), '127.0.0.1');
      // The server resets the stream: the reset must not surface as an uncaught error.
      socket.on('error', () => {});
      const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
      // Read until the first whole event has arrived, then stop reading: the client stalls.
      let received = '';
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('utf8');
        if (/^id: \d+\nevent: [a-z.]+\ndata: [^\n]+\n\n/m.test(received)) socket.pause();
      });
      await new Promise<void>((resolve) => socket.once('connect', () => resolve()));
      socket.write('GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\nlast-event-id: 0\r\n\r\n');
      // Opened, then cut: counted, since the stall timeout may cut it between two polls.
      await eventually(
        () => slow.events.opened_count === 1 && slow.events.subscriber_count === 0,
        'the stream opened and was cut',
      );
      expect(slow.events.buffered_bytes).toBe(0);

      // What reached the client before it stalled, then the rest after its last complete event.
      socket.destroy();
      await closed;
      const complete = [...received.matchAll(/^id: (\d+)\nevent: [a-z.]+\ndata: [^\n]+\n\n/gm)].map((match) =>
        Number(match[1]),
      );
      expect(complete.length).toBeGreaterThan(0);
      expect(complete.at(-1)!).toBeLessThan(last_id);
      expect(complete).toEqual(Array.from({ length: complete.length }, (_, index) => index + 1));
      const rest = await readEvents(
        last_id - complete.at(-1)!,
        { 'last-event-id': String(complete.at(-1)) },
        undefined,
        slow.url,
      );
      expect(rest.map((event) => event.id)).toEqual(
        Array.from({ length: last_id - complete.at(-1)! }, (_, index) => complete.at(-1)! + index + 1),
      );
    } finally {
      await slow.dispose();
    }
  }, 120_000);

  it('refuses a per-subscriber bound above the total bound, naming the key', () => {
    const load = () =>
      loadConfig(
        { EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX: '4194304', EVENTS_BUFFER_BYTES_MAX: '2097152' },
        undefined,
      );
    expect(load).toThrow(ConfigError);
    expect(load).toThrow('EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX');
    expect(() => loadConfig({ EVENTS_STALL_TIMEOUT_MS: '5' }, undefined)).toThrow('EVENTS_STALL_TIMEOUT_MS');
    expect(loadConfig({}, undefined)).toMatchObject({
      EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX: 1_048_576,
      EVENTS_BUFFER_BYTES_MAX: 67_108_864,
      EVENTS_STALL_TIMEOUT_MS: 30_000,
      WEBHOOK_ENDPOINT_IN_FLIGHT_MAX: 8,
    });
  });
});
