// `stockhold skus ...` and `stockhold orders ...` as a user runs them against a running server
// (SQLite): human output, --json parsed and checked against the server's own state, API refusals as
// one `error <code>` line with exit 1, bad arguments refused before any request, a server that does
// not answer, and API keys.
import { once } from 'node:events';
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectOneLineFailure, runStockhold } from '../support/cli.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { cleanEnv, expectApiError } from './support.ts';

/** Every test here starts several whole node processes; on a busy machine each takes seconds. */
const CLI_TEST_TIMEOUT_MS = 300_000;

describe('skus and orders commands against a running server', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  const stockhold = (...args: string[]) => runStockhold([...args, '--url', server.url], cleanEnv());

  beforeAll(async () => {
    server = await startTestServer();
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('creates, reads, lists and adjusts SKUs and reads their ledger', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const [tee, mug] = await Promise.all([
      stockhold('skus', 'create', 'tee', '--available', '10', '--name', 'Tee', '--max-per-customer', '3'),
      stockhold('skus', 'create', 'mug', '--available', '5', '--json', '--idempotency-key', 'mug-1'),
    ]);
    expect(tee.code, tee.stderr).toBe(0);
    expect(tee.stdout).toMatch(/^sku:\s+tee$/m);
    expect(tee.stdout).toMatch(/^name:\s+Tee$/m);
    expect(tee.stdout).toMatch(/^available:\s+10$/m);
    expect(tee.stdout).toMatch(/^max_per_customer:\s+3$/m);
    expect(mug.code, mug.stderr).toBe(0);
    expect(JSON.parse(mug.stdout)).toMatchObject({
      sku: 'mug',
      name: 'mug',
      available: 5,
      max_per_customer: null,
    });

    const [replayed, duplicate, first_page, adjusted, conflict] = await Promise.all([
      stockhold('skus', 'create', 'mug', '--available', '5', '--json', '--idempotency-key', 'mug-1'),
      stockhold('skus', 'create', 'mug'),
      stockhold('skus', 'list', '--limit', '1'),
      stockhold('skus', 'adjust', 'tee', '--delta', '-2', '--reason', 'damaged', '--json'),
      stockhold('skus', 'adjust', 'mug', '--delta', '5', '--expected-available', '99'),
    ]);
    // The same key and body: the first answer, as is.
    expect(replayed).toEqual(mug);
    expect(expectApiError(duplicate, 'sku_exists')).toContain('mug');
    expect(first_page.code).toBe(0);
    expect(first_page.stdout).toMatch(
      /^SKU\s+AVAILABLE\s+ON_HOLD\s+SOLD\s+MAX_PER_CUSTOMER\s+NAME\nmug\s+5\s+0\s+0\s+-\s+mug\n$/,
    );
    expect(first_page.stderr).toMatch(/^more: add --cursor \S+\n$/);
    expect(JSON.parse(adjusted.stdout)).toMatchObject({ sku: 'tee', available: 8, on_hold: 0, sold: 0 });
    expect(expectApiError(conflict, 'version_conflict')).toMatch(
      /\n {2}details: \{.*"expected_available":99/,
    );
    expect((await api.get('/v1/skus/mug')).body).toMatchObject({ available: 5 });

    const [got, ledger_json, ledger_table, all] = await Promise.all([
      stockhold('skus', 'get', 'tee', '--json'),
      stockhold('skus', 'ledger', 'tee', '--json'),
      stockhold('skus', 'ledger', 'tee'),
      stockhold('skus', 'list', '--json'),
    ]);
    expect(JSON.parse(got.stdout)).toEqual((await api.get('/v1/skus/tee')).body);
    expect(JSON.parse(ledger_json.stdout)).toEqual((await api.get('/v1/skus/tee/ledger')).body);
    expect(JSON.parse(ledger_json.stdout).items.map((entry: { kind: string }) => entry.kind)).toEqual([
      'create',
      'adjustment',
    ]);
    expect(ledger_table.stdout).toMatch(/^2\s+\S+\s+adjustment\s+-2\/0\/0\s+8\/0\/0\s+-\s+damaged$/m);
    expect(JSON.parse(all.stdout)).toEqual({
      items: [expect.objectContaining({ sku: 'mug' }), expect.objectContaining({ sku: 'tee' })],
      next_cursor: null,
    });
  });

  it('checks out, reads, lists, pays and cancels orders; refusals are error lines', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    for (const [sku, available] of [
      ['lamp', 4],
      ['desk', 2],
    ] as const)
      expect((await api.post('/v1/skus', { sku, available })).status).toBe(201);

    const [ana, ben, short] = await Promise.all([
      stockhold(
        'orders',
        'create',
        '--customer',
        'ana',
        '--line',
        'lamp:2',
        '--line',
        'desk:1',
        '--hold-seconds',
        '600',
        '--json',
      ),
      stockhold('orders', 'create', '--customer', 'ben', '--line', 'lamp:1', '--json'),
      stockhold('orders', 'create', '--customer', 'cy', '--line', 'lamp:9'),
    ]);
    const ana_order = JSON.parse(ana.stdout);
    const ben_order = JSON.parse(ben.stdout);
    expect(ana_order).toMatchObject({
      customer_id: 'ana',
      status: 'pending_payment',
      lines: [
        { sku: 'lamp', quantity: 2 },
        { sku: 'desk', quantity: 1 },
      ],
    });
    expect(Date.parse(ana_order.expires_at) - Date.parse(ana_order.created_at)).toBe(600_000);
    expect(ben_order).toMatchObject({ customer_id: 'ben', status: 'pending_payment' });
    expect(expectApiError(short, 'insufficient_stock')).toMatch(
      /\n {2}details: .*"sku":"lamp","requested":9/,
    );

    const [paid, cancelled] = await Promise.all([
      stockhold('orders', 'pay', ana_order.id, '--payment-id', 'pay-1', '--json'),
      stockhold('orders', 'cancel', ben_order.id),
    ]);
    expect(JSON.parse(paid.stdout)).toMatchObject({ id: ana_order.id, status: 'paid', payment_id: 'pay-1' });
    expect(cancelled.code, cancelled.stderr).toBe(0);
    expect(cancelled.stdout).toMatch(/^status:\s+cancelled$/m);

    const [shown, paid_list, ben_list, cancel_paid, missing] = await Promise.all([
      stockhold('orders', 'get', ana_order.id),
      stockhold('orders', 'list', '--status', 'paid', '--json'),
      stockhold('orders', 'list', '--customer', 'ben'),
      stockhold('orders', 'cancel', ana_order.id),
      stockhold('orders', 'get', 'no-such-order', '--json'),
    ]);
    expect(shown.stdout).toMatch(/^status:\s+paid$/m);
    expect(shown.stdout).toMatch(/^lines:\s+lamp x2, desk x1$/m);
    expect(shown.stdout).toMatch(/^payment_id:\s+pay-1$/m);
    expect(JSON.parse(paid_list.stdout).items.map((order: { id: string }) => order.id)).toEqual([
      ana_order.id,
    ]);
    expect(ben_list.stdout).toMatch(
      new RegExp(`^${ben_order.id}\\s+cancelled\\s+ben\\s+\\S+\\s+lamp x1$`, 'm'),
    );
    expectApiError(cancel_paid, 'order_paid');
    // --json on a refusal: the API's error body on stdout for scripts, the line on stderr for people.
    expectApiError(missing, 'order_not_found');
    expect(JSON.parse(missing.stdout)).toMatchObject({ error: { code: 'order_not_found' } });

    expect((await api.get('/v1/skus/lamp')).body).toMatchObject({ available: 2, on_hold: 0, sold: 2 });
    expect((await api.get('/v1/skus/desk')).body).toMatchObject({ available: 1, on_hold: 0, sold: 1 });
  });

  it('refuses bad arguments before any request, naming the rule, exit 2', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const cases: [string[], string][] = [
      [
        ['orders', 'create', '--customer', 'x', '--line', 'lamp:0'],
        'must be a whole number in 1..1000000 (got "0")',
      ],
      [['orders', 'create', '--customer', 'x', '--line', 'lamp'], 'a line is SKU:QUANTITY'],
      [['orders', 'create', '--line', 'lamp:1'], "required option '--customer <id>' not specified"],
      [
        ['orders', 'list', '--status', 'shipped'],
        'Allowed choices are pending_payment, paid, cancelled, expired',
      ],
      [['skus', 'adjust', 'lamp', '--delta', '0'], 'must not be 0'],
      [['skus', 'list', '--limit', '501'], 'must be a whole number in 1..500'],
      [['skus', 'get', 'bad sku'], 'a sku is 1..64 of'],
      [['skus', 'get', 'lamp', '--url', 'ftp://example.com'], 'must be an http:// or https:// URL'],
    ];
    const before = (await api.get('/v1/skus/lamp/ledger')).body;
    const results = await Promise.all(cases.map(([args]) => stockhold(...args)));
    results.forEach((result, index) => {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(cases[index]![1]);
      expect(result.stdout).toBe('');
    });
    expect((await api.get('/v1/skus/lamp/ledger')).body).toEqual(before);
  });

  it('says in one line, exit 2, that a server which does not answer is not running', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer().listen(0, '127.0.0.1');
    await once(probe, 'listening');
    const { port } = probe.address() as { port: number };
    probe.close();
    const url = `http://127.0.0.1:${port}`;
    const result = await runStockhold(['skus', 'list', '--json'], cleanEnv({ STOCKHOLD_URL: url }));
    expect(expectOneLineFailure(result)).toBe(
      `stockhold: cannot reach the server at ${url} (ECONNREFUSED): is \`npm start\` running?`,
    );
    expect(result.stdout).toBe('');
  });
});

describe('skus and orders commands against a server with API keys', () => {
  const read_key = `cli-test-read-key-${'x'.repeat(24)}`;
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ env: { STOCKHOLD_API_KEYS: `read:${read_key}` } });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('is refused without a key (saying how to give one) and answered with one from STOCKHOLD_API_KEY or --api-key', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const [without, from_env, from_flag, wrong_scope] = await Promise.all([
      runStockhold(['skus', 'list', '--url', server.url], cleanEnv()),
      runStockhold(
        ['skus', 'list', '--json'],
        cleanEnv({ STOCKHOLD_URL: server.url, STOCKHOLD_API_KEY: read_key }),
      ),
      runStockhold(['orders', 'list', '--json', '--url', server.url, '--api-key', read_key], cleanEnv()),
      runStockhold(['skus', 'create', 'tee', '--url', server.url, '--api-key', read_key], cleanEnv()),
    ]);
    expect(expectApiError(without, 'unauthorized')).toContain('(pass --api-key or set STOCKHOLD_API_KEY)');
    expect(JSON.parse(from_env.stdout)).toEqual({ items: [], next_cursor: null });
    expect(JSON.parse(from_flag.stdout)).toEqual({ items: [], next_cursor: null });
    expectApiError(wrong_scope, 'forbidden');
    expect((await server.store.getSku('tee')) ?? null).toBeNull();
  });
});
