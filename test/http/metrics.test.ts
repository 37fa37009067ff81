// /metrics after real traffic: request counts per route pattern, what the writes did (held, refused
// by code, paid on time and late, expired by the sweeper and lazily, cancelled), gauges read at
// scrape time (hottest SKUs, sweeper lag, backlog, queue) and, on PostgreSQL, the pool.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { Metrics } from '../../src/http/metrics.ts';
import { openMigratedStore } from '../../src/server.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';

const clock = new ManualClock();
let server: TestServer;
let api: ReturnType<typeof apiClient>;

beforeAll(async () => {
  server = await startTestServer({ clock, sweeper: false });
  api = apiClient(server.url);
});
afterAll(() => server.dispose());

/** The value of one sample, by metric name and exact label set as Prometheus prints it. */
function sample(text: string, series: string): number | undefined {
  const line = text.split('\n').find((candidate) => candidate.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

async function scrape(): Promise<string> {
  const response = await fetch(`${server.url}/metrics`);
  expect(response.status).toBe(200);
  expect(response.headers.get('content-type')).toContain('text/plain');
  return response.text();
}

async function checkout(sku: string, hold_seconds = 60) {
  return api.post('/v1/orders', { customer_id: 'm', lines: [{ sku, quantity: 1 }], hold_seconds });
}

describe('/metrics', () => {
  it('counts requests per route pattern and what the writes did, and reads the gauges at scrape time', async () => {
    expect((await api.post('/v1/skus', { sku: 'm1', available: 2 })).status).toBe(201);
    expect((await api.post('/v1/skus', { sku: 'm2', available: 1 })).status).toBe(201);
    const o1 = await checkout('m1');
    const o2 = await checkout('m1');
    expect((await checkout('m1')).body.error.code).toBe('insufficient_stock');
    expect((await api.post(`/v1/orders/${o1.body.id}/payment`, { payment_id: 'p1' })).status).toBe(200);
    expect((await api.post(`/v1/orders/${o2.body.id}/cancel`)).status).toBe(200);
    const o3 = await checkout('m1'); // takes m1's last unit
    const o4 = await checkout('m2');
    expect([o3.status, o4.status]).toEqual([201, 201]);
    expect((await api.get('/v1/orders/does-not-exist')).status).toBe(404);

    clock.advance(90_000); // both holds are 30 s overdue
    const overdue = await scrape();
    expect(sample(overdue, 'stockhold_sweeper_lag_seconds')).toBe(30);

    // A checkout of m1 reclaims o3 lazily; the sweeper expires o4; o4 is then paid late.
    expect((await checkout('m1')).status).toBe(201);
    expect(await server.sweeper.sweepOnce()).toBe(1);
    const late = await api.post(`/v1/orders/${o4.body.id}/payment`, { payment_id: 'p4' });
    expect(late.body.late).toBe(true);

    const text = await scrape();
    expect(sample(text, 'stockhold_checkouts_total{outcome="held",code=""}')).toBe(5);
    expect(sample(text, 'stockhold_checkouts_total{outcome="refused",code="insufficient_stock"}')).toBe(1);
    expect(sample(text, 'stockhold_payments_total{late="false"}')).toBe(1);
    expect(sample(text, 'stockhold_payments_total{late="true"}')).toBe(1);
    expect(sample(text, 'stockhold_expiries_total{source="lazy"}')).toBe(1);
    expect(sample(text, 'stockhold_expiries_total{source="sweeper"}')).toBe(1);
    expect(sample(text, 'stockhold_cancels_total')).toBe(1);
    expect(sample(text, 'stockhold_sweeper_lag_seconds')).toBe(0);

    expect(sample(text, 'stockhold_http_requests_total{method="POST",route="/v1/orders",status="201"}')).toBe(
      5,
    );
    expect(sample(text, 'stockhold_http_requests_total{method="POST",route="/v1/orders",status="409"}')).toBe(
      1,
    );
    expect(
      sample(
        text,
        'stockhold_http_requests_total{method="POST",route="/v1/orders/:id/payment",status="200"}',
      ),
    ).toBe(2);
    expect(
      sample(text, 'stockhold_http_requests_total{method="GET",route="/v1/orders/:id",status="404"}'),
    ).toBe(1);
    expect(
      sample(
        text,
        'stockhold_http_request_duration_seconds_count{method="POST",route="/v1/orders",status="201"}',
      ),
    ).toBe(5);
    // Labels carry the route pattern, never an order id.
    expect(text).not.toContain(o1.body.id);

    expect(sample(text, 'stockhold_sku_units{sku="m1",bucket="sold"}')).toBe(1);
    expect(sample(text, 'stockhold_sku_units{sku="m1",bucket="on_hold"}')).toBe(1);
    expect(sample(text, 'stockhold_sku_units{sku="m1",bucket="available"}')).toBe(0);
    expect(sample(text, 'stockhold_sku_units{sku="m2",bucket="sold"}')).toBe(1);
    expect(sample(text, 'stockhold_command_batch_size_count')).toBeGreaterThanOrEqual(10);
    expect(sample(text, 'stockhold_command_queue_length')).toBe(0);
    expect(sample(text, 'stockhold_webhook_backlog{kind="deliveries_open"}')).toBe(0);
    expect(text).toContain('stockhold_process_resident_memory_bytes');
  });

  it('reports PostgreSQL pool connections', async () => {
    const database = await createTestDatabase('stockhold_metrics');
    const store = await openMigratedStore(
      loadConfig({ DATABASE_URL: database.url, PG_POOL_SIZE: '3' }, undefined),
    );
    try {
      const metrics = new Metrics({
        store,
        queue: () => null,
        clock,
      });
      const text = await metrics.registry.metrics();
      expect(sample(text, 'stockhold_db_pool_connections{state="total"}')).toBeGreaterThanOrEqual(1);
      // The scrape's own gauge queries may be waiting for a connection while it is read.
      expect(sample(text, 'stockhold_db_pool_connections{state="waiting"}')).toBeGreaterThanOrEqual(0);
      expect(sample(text, 'stockhold_db_pool_connections{state="idle"}')).toBeGreaterThanOrEqual(0);
    } finally {
      await store.close();
      await database.drop();
    }
  });
});
