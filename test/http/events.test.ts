// The event stream: every order change and SKU change arrives live, and a client that reconnects
// with Last-Event-ID gets exactly what it missed.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';

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
async function readEvents(count: number, headers: Record<string, string> = {}, started?: () => void) {
  const controller = new AbortController();
  const response = await fetch(`${server.url}/v1/events`, { headers, signal: controller.signal });
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
