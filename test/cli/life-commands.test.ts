// The rest of a hold's and a SKU's life from the command line (issue 23), against a running server
// (SQLite): `orders extend|change|pay --line|return` and `skus update|count|delete|list --archived`,
// each answered as the API answers it, and each refusal one `error <code>` line with exit 1.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runStockhold } from '../support/cli.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { cleanEnv, expectApiError } from './support.ts';

/** Every test here starts several whole node processes; on a busy machine each takes seconds. */
const CLI_TEST_TIMEOUT_MS = 300_000;

function expectDone(result: CliResult): string {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe('the life of orders and SKUs from the command line', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  const stockhold = (...args: string[]) => runStockhold([...args, '--url', server.url], cleanEnv());

  beforeAll(async () => {
    // One extension per order: the second one is the refusal to see.
    server = await startTestServer({ env: { HOLD_EXTENSIONS_MAX: '1' } });
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('extends, changes, pays part of and returns an order; past a cap or the stock, one error line', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    expect((await api.post('/v1/skus', { sku: 'lamp', available: 10 })).status).toBe(201);
    const { body: held } = await api.post('/v1/orders', {
      customer_id: 'ana',
      lines: [{ sku: 'lamp', quantity: 2 }],
      hold_seconds: 300,
    });

    const extended = JSON.parse(
      expectDone(
        await stockhold('orders', 'extend', held.id, '--seconds', '120', '--reason', 'slow', '--json'),
      ),
    );
    expect(extended).toMatchObject({ id: held.id, status: 'pending_payment', extensions: 1 });
    expect(Date.parse(extended.expires_at) - Date.parse(held.expires_at)).toBe(120_000);
    expect(
      expectApiError(await stockhold('orders', 'extend', held.id, '--seconds', '60'), 'extension_limit'),
    ).toMatch(/\n {2}details: /);

    const [changed, short] = await Promise.all([
      stockhold('orders', 'change', held.id, '--line', 'lamp:3'),
      stockhold('orders', 'change', held.id, '--line', 'lamp:99'),
    ]);
    expect(expectDone(changed)).toMatch(/^lines:\s+lamp x3$/m);
    expect(changed.stdout).toMatch(/^extensions:\s+1$/m);
    expectApiError(short, 'insufficient_stock');
    expect((await api.get('/v1/skus/lamp')).body).toMatchObject({ available: 7, on_hold: 3, sold: 0 });

    const paid = expectDone(
      await stockhold('orders', 'pay', held.id, '--payment-id', 'pay-1', '--line', 'lamp:2'),
    );
    expect(paid).toMatch(/^status:\s+paid$/m);
    expect(paid).toMatch(/^sold_lines:\s+lamp x2$/m);
    expect(paid).toMatch(/^released_lines:\s+lamp x1$/m);

    const returned = expectDone(
      await stockhold('orders', 'return', held.id, '--line', 'lamp:1', '--reason', 'wrong colour'),
    );
    expect(returned).toMatch(/^returns:\s+lamp x1 restocked$/m);
    const [too_many, written_off] = await Promise.all([
      stockhold('orders', 'return', held.id, '--line', 'lamp:5', '--no-restock'),
      stockhold('orders', 'return', held.id, '--line', 'lamp:1', '--no-restock', '--json'),
    ]);
    expectApiError(too_many, 'return_exceeds_sold');
    expect(JSON.parse(expectDone(written_off)).returns).toEqual([
      expect.objectContaining({
        lines: [{ sku: 'lamp', quantity: 1 }],
        restock: true,
        reason: 'wrong colour',
      }),
      expect.objectContaining({ lines: [{ sku: 'lamp', quantity: 1 }], restock: false, reason: null }),
    ]);
    // 10 units: 2 sold, 1 of them restocked, 1 written off (it left the stock).
    expect((await api.get('/v1/skus/lamp')).body).toMatchObject({ available: 9, on_hold: 0, sold: 0 });
    expect(JSON.parse(expectDone(await stockhold('orders', 'get', held.id, '--json')))).toEqual(
      (await api.get(`/v1/orders/${held.id}`)).body,
    );
  });

  it('updates, archives, counts and deletes SKUs; lists archived ones only when asked', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    for (const sku of ['tee', 'mug', 'fresh'])
      expect((await api.post('/v1/skus', { sku, available: 10 })).status).toBe(201);
    expect(
      (await api.post('/v1/orders', { customer_id: 'ben', lines: [{ sku: 'mug', quantity: 4 }] })).status,
    ).toBe(201);

    const updated = JSON.parse(
      expectDone(
        await stockhold(
          'skus',
          'update',
          'tee',
          '--name',
          'Tee',
          '--max-per-customer',
          '2',
          '--low-stock-threshold',
          '3',
          '--expected-version',
          '1',
          '--json',
        ),
      ),
    );
    expect(updated).toMatchObject({ sku: 'tee', name: 'Tee', max_per_customer: 2, low_stock_threshold: 3 });
    const [stale, cleared] = await Promise.all([
      stockhold('skus', 'update', 'tee', '--name', 'Old', '--expected-version', '1'),
      stockhold('skus', 'update', 'tee', '--max-per-customer', 'none', '--low-stock-threshold', 'none'),
    ]);
    expectApiError(stale, 'version_conflict');
    expect(expectDone(cleared)).toMatch(/^max_per_customer:\s+-$/m);
    expect(cleared.stdout).toMatch(/^low_stock_threshold:\s+-$/m);
    expect((await api.get('/v1/skus/tee')).body).toMatchObject({ name: 'Tee', max_per_customer: null });

    const archived = expectDone(await stockhold('skus', 'update', 'tee', '--archive'));
    expect(archived).toMatch(/^archived:\s+true$/m);
    const [listed, listed_all] = await Promise.all([
      stockhold('skus', 'list'),
      stockhold('skus', 'list', '--archived'),
    ]);
    expect(expectDone(listed)).not.toMatch(/^tee\s/m);
    expect(expectDone(listed_all)).toMatch(/^tee\s+10\s+0\s+0\s+-\s+Tee \(archived\)$/m);
    expect(
      (await api.post('/v1/orders', { customer_id: 'cy', lines: [{ sku: 'tee', quantity: 1 }] })).body.error
        .code,
    ).toBe('sku_archived');
    expect(expectDone(await stockhold('skus', 'update', 'tee', '--unarchive'))).toMatch(
      /^archived:\s+false$/m,
    );

    // mug: 6 available, 4 on hold; the ERP counts 9 unsold.
    const [counted, below] = await Promise.all([
      stockhold('skus', 'count', 'mug', '--unsold', '9', '--reason', 'stocktake', '--json'),
      stockhold('skus', 'count', 'mug', '--unsold', '3'),
    ]);
    expect(JSON.parse(expectDone(counted))).toMatchObject({ sku: 'mug', available: 5, on_hold: 4 });
    expect(expectApiError(below, 'count_below_holds')).toContain('"on_hold":4');

    const [deleted, in_use] = await Promise.all([
      stockhold('skus', 'delete', 'fresh'),
      stockhold('skus', 'delete', 'mug'),
    ]);
    expect(expectDone(deleted)).toBe('deleted fresh\n');
    expect((await api.get('/v1/skus/fresh')).status).toBe(404);
    expectApiError(in_use, 'sku_in_use');
    expectApiError(await stockhold('skus', 'delete', 'fresh'), 'sku_not_found');
  });

  it('refuses bad arguments before any request, naming the rule, exit 2', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const cases: [string[], string][] = [
      [['orders', 'extend', 'some-order', '--seconds', '0'], 'must be a whole number in 1..86400'],
      [['orders', 'change', 'some-order'], "required option '--line <sku:quantity>' not specified"],
      [['orders', 'return', 'some-order', '--line', 'lamp'], 'a line is SKU:QUANTITY'],
      [['skus', 'update', 'lamp'], 'nothing to change: give --name'],
      [
        ['skus', 'update', 'lamp', '--archive', '--unarchive'],
        "option '--archive' cannot be used with option '--unarchive'",
      ],
      [['skus', 'update', 'lamp', '--max-per-customer', 'lots'], 'must be a whole number in 1..1000000'],
      [['skus', 'count', 'lamp', '--unsold', '-1'], 'must be a whole number in 0..1000000000'],
    ];
    const results = await Promise.all(cases.map(([args]) => stockhold(...args)));
    results.forEach((result, index) => {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(cases[index]?.[1]);
      expect(result.stdout).toBe('');
    });
  });
});
