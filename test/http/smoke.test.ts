import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';

describe('the HTTP API on SQLite', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  beforeAll(async () => {
    server = await startTestServer();
    api = apiClient(server.url);
  });
  afterAll(() => server.dispose());

  it('holds stock at checkout and sells it at payment', async () => {
    expect((await api.post('/v1/skus', { sku: 'mug', available: 3 })).status).toBe(201);
    const order = await api.post('/v1/orders', { customer_id: 'c1', lines: [{ sku: 'mug', quantity: 2 }] });
    expect(order.status).toBe(201);
    expect((await api.get('/v1/skus/mug')).body).toMatchObject({ available: 1, on_hold: 2, sold: 0 });
    const paid = await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: 'p1' });
    expect(paid.body).toMatchObject({ status: 'paid', payment_id: 'p1' });
    expect((await api.get('/v1/skus/mug')).body).toMatchObject({ available: 1, on_hold: 0, sold: 2 });
  });
});
