import { request as httpRequest } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { runStockhold } from '../support/cli.ts';
import { startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';
import { bearer, createTestKeys, onNewDatabase, probe, type TestKeys } from './support.ts';

async function call(server: TestServer, method: string, path: string, key: string | null, body?: unknown) {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...(key ? bearer(key) : {}),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as any, headers: response.headers };
}

/** fetch may not set Host; a browser led by DNS rebinding sends the attacker's name there. */
function withHost(base_url: string, host: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const request = httpRequest(`${base_url}/v1/skus`, { headers: { host } }, (response) => {
      let body = '';
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    request.on('error', reject);
    request.end();
  });
}

describe('own orders', () => {
  let server: TestServer;
  let keys: TestKeys;
  beforeAll(async () => {
    const { url } = temporarySqliteUrl();
    keys = await createTestKeys(url);
    server = await startTestServer({ database_url: url });
    expect((await call(server, 'POST', '/v1/skus', keys.admin, { sku: 'mug', available: 10 })).status).toBe(
      201,
    );
  });
  afterAll(() => server.dispose());

  it('lets a checkout key read, pay and cancel only the orders it created, and read their ledger; others answer 404 order_not_found', async () => {
    const mine = await call(server, 'POST', '/v1/orders', keys.checkout, {
      customer_id: 'amy',
      lines: [{ sku: 'mug', quantity: 1 }],
    });
    const theirs = await call(server, 'POST', '/v1/orders', keys.other_checkout, {
      customer_id: 'bob',
      lines: [{ sku: 'mug', quantity: 2 }],
    });
    expect(mine.status).toBe(201);
    expect(theirs.status).toBe(201);
    const other = theirs.body.id as string;

    for (const [method, path, body] of [
      ['GET', `/v1/orders/${other}`, undefined],
      ['GET', `/v1/orders/${other}/ledger`, undefined],
      ['POST', `/v1/orders/${other}/payment`, { payment_id: 'p-steal' }],
      ['POST', `/v1/orders/${other}/cancel`, undefined],
    ] as const) {
      const answer = await call(server, method, path, keys.checkout, body);
      expect(answer.status, `${method} ${path}`).toBe(404);
      expect(answer.body.error.code).toBe('order_not_found');
    }
    // The same answer as for an order that does not exist, so ids of other keys don't leak.
    const missing = await call(
      server,
      'GET',
      '/v1/orders/0190c5f0-0000-7000-8000-000000000000',
      keys.checkout,
    );
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('order_not_found');

    const untouched = await call(server, 'GET', `/v1/orders/${other}`, keys.other_checkout);
    expect(untouched.body.status).toBe('pending_payment');
    expect((await call(server, 'GET', '/v1/skus/mug', keys.read)).body).toMatchObject({
      available: 7,
      on_hold: 3,
    });

    expect((await call(server, 'GET', `/v1/orders/${mine.body.id}`, keys.checkout)).status).toBe(200);
    const my_ledger = await call(server, 'GET', `/v1/orders/${mine.body.id}/ledger`, keys.checkout);
    expect(my_ledger.body.items.map((entry: { kind: string }) => entry.kind)).toEqual(['hold']);
    const paid = await call(server, 'POST', `/v1/orders/${mine.body.id}/payment`, keys.checkout, {
      payment_id: 'p1',
    });
    expect(paid.body.status).toBe('paid');
    expect((await call(server, 'GET', `/v1/orders/${other}`, keys.read)).status).toBe(200);
    expect((await call(server, 'POST', `/v1/orders/${other}/cancel`, keys.read)).status).toBe(403);
    expect((await call(server, 'POST', `/v1/orders/${other}/cancel`, keys.admin)).body.status).toBe(
      'cancelled',
    );
  });

  it('gives each key its own Idempotency-Key space: the same key from another storefront is a new order', async () => {
    const body = { customer_id: 'cat', lines: [{ sku: 'mug', quantity: 1 }] };
    const send = (key: string) =>
      fetch(`${server.url}/v1/orders`, {
        method: 'POST',
        headers: { ...bearer(key), 'content-type': 'application/json', 'idempotency-key': 'order-1' },
        body: JSON.stringify(body),
      }).then(async (response) => ({ status: response.status, body: (await response.json()) as any }));
    const first = await send(keys.checkout);
    const replay = await send(keys.checkout);
    const other = await send(keys.other_checkout);
    expect(first.status).toBe(201);
    expect(replay.body.id).toBe(first.body.id);
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });
});

describe('keys given in STOCKHOLD_API_KEYS', () => {
  const admin = `admin-key-${'a'.repeat(32)}`;
  const read = `read-key-${'r'.repeat(32)}`;

  it('are required and scoped like database keys', async () => {
    const server = await startTestServer({ env: { STOCKHOLD_API_KEYS: `admin:${admin}, read:${read}` } });
    try {
      expect((await call(server, 'GET', '/v1/skus', null)).status).toBe(401);
      expect((await call(server, 'GET', '/v1/skus', read)).status).toBe(200);
      expect((await call(server, 'POST', '/v1/skus', read, { sku: 'x', available: 1 })).status).toBe(403);
      expect((await call(server, 'POST', '/v1/skus', admin, { sku: 'x', available: 1 })).status).toBe(201);
    } finally {
      await server.dispose();
    }
  });

  it('refuses a bad entry at start with a message that names STOCKHOLD_API_KEYS but never the key', () => {
    const cases = [
      [`admin:${admin},root:${read}`, /STOCKHOLD_API_KEYS entry 2 has an unknown scope/],
      ['admin:short-key', /STOCKHOLD_API_KEYS entry 1 \(admin\): a key has 32\.\.256 characters/],
      [admin, /STOCKHOLD_API_KEYS entry 1 is not <scope>:<key>/],
      [`admin:${admin},read:${admin}`, /STOCKHOLD_API_KEYS entry 2 \(read\) repeats an earlier key/],
    ] as const;
    for (const [value, message] of cases) {
      let thrown: Error | undefined;
      try {
        loadConfig({ STOCKHOLD_API_KEYS: value }, undefined);
      } catch (error) {
        thrown = error as Error;
      }
      expect(thrown?.name).toBe('ConfigError');
      expect(thrown?.message).toMatch(message);
      expect(thrown?.message).not.toContain('aaaa');
      expect(thrown?.message).not.toContain('short-key');
    }
  });
});

/** Two server processes' worth of instances on one database, with one manual clock for the cache. */
async function revocationOnTwoServers(database_url: string) {
  const keys = await createTestKeys(database_url);
  const clock = new ManualClock(Date.now());
  const servers = [
    await startTestServer({ database_url, clock, sweeper: false }),
    await startTestServer({ database_url, clock, sweeper: false }),
  ];
  try {
    for (const server of servers) expect((await call(server, 'GET', '/v1/skus', keys.read)).status).toBe(200);
    const repository = servers[0]!.store.api_keys;
    const record = (await repository.list()).find((entry) => entry.name === 'analytics')!;
    await repository.revoke(record.prefix, clock.now());
    const created = await repository.create({ scope: 'read', name: 'new analytics', now_ms: clock.now() });

    // Each server trusts its last lookup for API_KEY_CACHE_TTL_MS (1 s): after that, on every one,
    // the revoked key is refused and the new key accepted.
    clock.advance(1000);
    for (const server of servers) {
      const refused = await call(server, 'GET', '/v1/skus', keys.read);
      expect(refused.status).toBe(401);
      expect(refused.body.error.code).toBe('unauthorized');
      expect((await call(server, 'GET', '/v1/skus', created.key)).status).toBe(200);
    }
  } finally {
    for (const server of servers) await server.stop();
  }
}

/**
 * Two servers on one database, their clocks ten minutes apart, each accepting the storefront key;
 * the one behind stops last. Then `stockhold keys list` reads the table.
 */
async function lastUseOnTwoServers(database_url: string) {
  const keys = await createTestKeys(database_url);
  const now_ms = Date.parse('2026-12-12T00:00:00.000Z');
  const ahead = await startTestServer({ database_url, clock: new ManualClock(now_ms), sweeper: false });
  const behind = await startTestServer({
    database_url,
    clock: new ManualClock(now_ms - 600_000),
    sweeper: false,
  });
  try {
    expect((await call(ahead, 'GET', '/v1/skus', keys.checkout)).status).toBe(200);
    expect((await call(behind, 'GET', '/v1/skus', keys.checkout)).status).toBe(200);
    // A refused key is not "used": the revoked admin key.
    expect((await call(ahead, 'GET', '/v1/skus', keys.revoked)).status).toBe(401);
  } finally {
    // Each server writes the last use it saw as it stops; the earlier time never replaces the later.
    await ahead.stop();
    await behind.stop();
  }
  const listed = await runStockhold(['keys', 'list', '--database-url', database_url]);
  expect(listed.code).toBe(0);
  const [header, ...rows] = listed.stdout.trim().split('\n');
  expect(header!.split('\t').at(-1)).toBe('last_used_at');
  const last_used = Object.fromEntries(rows.map((row) => [row.split('\t')[3], row.split('\t').at(-1)]));
  expect(last_used).toEqual({
    ops: '-',
    storefront: '2026-12-12T00:00:00.000Z',
    'other storefront': '-',
    analytics: '-',
    'former ops': '-',
  });
}

describe.each(DIALECTS)('when a key was last used (%s)', (dialect) => {
  it('is written by every server process, the latest kept, and listed by stockhold keys list', () =>
    onNewDatabase(dialect, lastUseOnTwoServers));
});

describe('an event stream whose key is revoked', () => {
  it('ends, and the key cannot open another', async () => {
    const { url } = temporarySqliteUrl();
    const keys = await createTestKeys(url);
    const clock = new ManualClock(Date.now());
    const server = await startTestServer({ database_url: url, clock, sweeper: false });
    try {
      const stream = await fetch(`${server.url}/v1/events`, { headers: bearer(keys.read) });
      expect(stream.status).toBe(200);
      const reader = stream.body!.getReader();
      await reader.read(); // the `retry:` line: the stream is open
      const repository = server.store.api_keys;
      const record = (await repository.list()).find((entry) => entry.name === 'analytics')!;
      await repository.revoke(record.prefix, clock.now());
      clock.advance(1000); // past the key cache (API_KEY_CACHE_TTL_MS)

      // The stream asks again every 5 s (KEY_RECHECK_MS in src/http/routes/events.ts) and ends; a
      // stream that never ends fails this test on its timeout.
      let ended = false;
      while (!ended) ended = (await reader.read()).done;
      expect((await call(server, 'GET', '/v1/events', keys.read)).status).toBe(401);
    } finally {
      await server.stop();
    }
  }, 30_000);
});

describe.each(DIALECTS)('a revoked key stops working on every server process (%s)', (dialect) => {
  it('on one database', () => onNewDatabase(dialect, revocationOnTwoServers));
});

describe('open mode and the refuse-to-start rule', () => {
  it('runs open on loopback without keys, answering only loopback Host names', async () => {
    const server = await startTestServer();
    try {
      expect((await probe(server.url, 'GET', '/v1/skus', {})).status).toBe(200);
      expect((await withHost(server.url, 'localhost:3000')).status).toBe(200);
      expect((await withHost(server.url, '[::1]:3000')).status).toBe(200);
      const rebound = await withHost(server.url, 'attacker.example');
      expect(rebound.status).toBe(403);
      expect(JSON.parse(rebound.body).error.code).toBe('forbidden');
    } finally {
      await server.dispose();
    }
  });

  it('requires keys everywhere, loopback included, once a key is created', async () => {
    const clock = new ManualClock(Date.now());
    const server = await startTestServer({ clock, sweeper: false });
    try {
      expect((await probe(server.url, 'GET', '/v1/skus', {})).status).toBe(200);
      const { key } = await server.store.api_keys.create({
        scope: 'read',
        name: 'first',
        now_ms: clock.now(),
      });
      clock.advance(1000);
      expect((await probe(server.url, 'GET', '/v1/skus', {})).status).toBe(401);
      expect((await probe(server.url, 'GET', '/v1/skus', bearer(key))).status).toBe(200);
      expect((await probe(server.url, 'GET', '/healthz', {})).status).toBe(200);
    } finally {
      await server.dispose();
    }
  });

  it('refuses to start on a non-loopback address without keys, saying how to create one', async () => {
    await expect(startTestServer({ env: { HOST: '0.0.0.0' } })).rejects.toThrow(
      'HOST=0.0.0.0 is not loopback and no API key exists; create one first: npx stockhold keys create --scope admin --name ops',
    );
  });

  it('starts on a non-loopback address once a key exists (database or STOCKHOLD_API_KEYS)', async () => {
    const { url } = temporarySqliteUrl();
    const keys = await createTestKeys(url);
    const from_database = await startTestServer({ database_url: url, env: { HOST: '0.0.0.0' } });
    await from_database.dispose();
    const from_environment = await startTestServer({
      env: { HOST: '0.0.0.0', STOCKHOLD_API_KEYS: `admin:${keys.admin}` },
    });
    try {
      const base = from_environment.url.replace('0.0.0.0', '127.0.0.1');
      expect((await probe(base, 'GET', '/v1/skus', {})).status).toBe(401);
      expect((await probe(base, 'GET', '/v1/skus', bearer(keys.admin))).status).toBe(200);
    } finally {
      await from_environment.dispose();
    }
  });
});
