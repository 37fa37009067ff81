// Fair rate limits: the per-customer limit counts a customer id within the calling key, replays of an
// idempotent checkout spend nothing, and wrong keys from one address are answered 429 past a budget.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';
import { bearer, createTestKeys, onNewDatabase, probe, type TestKeys } from './support.ts';

const CUSTOMER_LIMIT = 2;

async function checkout(server: TestServer, key: string, customer_id: string, idempotency_key?: string) {
  const response = await fetch(`${server.url}/v1/orders`, {
    method: 'POST',
    headers: {
      ...bearer(key),
      'content-type': 'application/json',
      ...(idempotency_key ? { 'idempotency-key': idempotency_key } : {}),
    },
    body: JSON.stringify({ customer_id, lines: [{ sku: 'hot', quantity: 1 }] }),
  });
  const body = (await response.json()) as { id?: string; error?: { code: string } };
  return { status: response.status, body, retry_after: response.headers.get('retry-after') };
}

/** A server on a new SQLite file, removed with it. */
async function startOnSqlite(env: Record<string, string> = {}) {
  const { url, directory } = temporarySqliteUrl();
  const started = await startLimited(url, env);
  return {
    ...started,
    async dispose() {
      await started.server.stop();
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function startLimited(database_url: string, env: Record<string, string> = {}) {
  const keys = await createTestKeys(database_url);
  const server = await startTestServer({
    database_url,
    env: {
      RATE_LIMIT_PER_CUSTOMER_PER_MINUTE: String(CUSTOMER_LIMIT),
      RATE_LIMIT_PER_KEY_PER_SECOND: '100000',
      ...env,
    },
  });
  const created = await probe(server.url, 'POST', '/v1/skus', bearer(keys.admin), {
    sku: 'hot',
    available: 1000,
  });
  expect(created.status).toBe(201);
  return { keys, server };
}

describe('the per-customer limit', () => {
  let server: TestServer;
  let keys: TestKeys;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ keys, server, dispose } = await startOnSqlite());
  });
  afterAll(() => dispose());

  it("counts a customer id within the key: storefront A's refusals do not touch the same id on storefront B", async () => {
    for (let i = 0; i < CUSTOMER_LIMIT; i++) {
      expect((await checkout(server, keys.checkout, 'victim-9')).status).toBe(201);
    }
    const refused = await checkout(server, keys.checkout, 'victim-9');
    expect(refused.status).toBe(429);
    expect(refused.body.error?.code).toBe('rate_limited');
    expect(Number(refused.retry_after)).toBeGreaterThanOrEqual(1);
    // Storefront B's shopper with the same id has a budget of its own.
    for (let i = 0; i < CUSTOMER_LIMIT; i++) {
      expect((await checkout(server, keys.other_checkout, 'victim-9')).status).toBe(201);
    }
    expect((await checkout(server, keys.other_checkout, 'victim-9')).status).toBe(429);
  });
});

for (const dialect of DIALECTS) {
  describe(`replays of an idempotent checkout (${dialect})`, () => {
    it('are answered from the stored answer without spending the budget, even once it is spent', async () => {
      await onNewDatabase(dialect, async (database_url) => {
        const { keys, server } = await startLimited(database_url);
        try {
          const first = await checkout(server, keys.checkout, 'shopper', 'retry-me');
          expect(first.status).toBe(201);
          // A client retrying on timeouts: five replays, each the first answer.
          for (let i = 0; i < 5; i++) {
            const replay = await checkout(server, keys.checkout, 'shopper', 'retry-me');
            expect(replay.status, `replay ${i}`).toBe(201);
            expect(replay.body.id).toBe(first.body.id);
          }
          // The budget of 2 holds one more real checkout, then is spent.
          expect((await checkout(server, keys.checkout, 'shopper', 'second')).status).toBe(201);
          const third = await checkout(server, keys.checkout, 'shopper', 'third');
          expect(third.status).toBe(429);
          // A replay still gets its answer once the budget is spent.
          expect((await checkout(server, keys.checkout, 'shopper', 'retry-me')).body.id).toBe(first.body.id);
          expect((await server.store.listOrders({ customer_id: 'shopper', limit: 10 })).length).toBe(2);
          expect((await server.store.getSku('hot'))?.on_hold).toBe(2);
        } finally {
          await server.stop();
        }
      });
    });
  });
}

describe('failed authentication per address', () => {
  const BUDGET = 5;
  let server: TestServer;
  let keys: TestKeys;
  let dispose: () => Promise<void>;
  beforeAll(async () => {
    ({ keys, server, dispose } = await startOnSqlite({
      RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: String(BUDGET),
    }));
  });
  afterAll(() => dispose());

  it('answers wrong keys 401 up to the budget, then 429 rate_limited with Retry-After; valid keys still pass', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < BUDGET; i++) {
      statuses.push(
        (await probe(server.url, 'GET', '/v1/skus', bearer(`sh_read_guess${i}${'x'.repeat(40)}`))).status,
      );
    }
    expect(statuses).toEqual(Array(BUDGET).fill(401));
    for (const key of [`sh_read_guess-more${'x'.repeat(40)}`, keys.revoked]) {
      const limited = await probe(server.url, 'GET', '/v1/skus', bearer(key));
      expect(limited.status).toBe(429);
      expect(limited.code).toBe('rate_limited');
      expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    }
    // The address's valid keys (another client behind the same proxy) are served as before.
    expect((await probe(server.url, 'GET', '/v1/skus', bearer(keys.read))).status).toBe(200);
    // No key at all is a plain 401: nothing guessed, no lookup made.
    expect((await probe(server.url, 'GET', '/v1/skus', {})).status).toBe(401);
  });
});
