// A database too busy to answer in time (a row lock held past the statement timeout) is answered
// 503 overloaded with Retry-After, not 500, and the refused checkout holds nothing.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';

describe('a PostgreSQL lock wait past the statement timeout', () => {
  let database: TestDatabase;
  let server: TestServer;
  beforeAll(async () => {
    database = await createTestDatabase();
    server = await startTestServer({
      database_url: database.url,
      env: { PG_STATEMENT_TIMEOUT_MS: '300', COALESCE: 'off' },
    });
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });

  it('answers 503 overloaded with Retry-After, holds nothing, and works again once the lock is gone', async () => {
    const api = apiClient(server.url);
    expect((await api.post('/v1/skus', { sku: 'hot', name: 'Hot', available: 5 })).status).toBe(201);

    const blocker = new pg.Client({ connectionString: database.url });
    await blocker.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(`SELECT * FROM skus WHERE sku = 'hot' FOR UPDATE`);
      const refused = await api.raw('POST', '/v1/orders', {
        customer_id: 'c1',
        lines: [{ sku: 'hot', quantity: 1 }],
      });
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect((refused.body as { error: { code: string } }).error.code).toBe('overloaded');
      await blocker.query('ROLLBACK');
    } finally {
      await blocker.end();
    }

    const sku = await api.get('/v1/skus/hot');
    expect(sku.body).toMatchObject({ available: 5, on_hold: 0, sold: 0 });
    const held = await api.post('/v1/orders', { customer_id: 'c1', lines: [{ sku: 'hot', quantity: 1 }] });
    expect(held.status).toBe(201);
  });
});
