// Bad input gets a clear 4xx with a stable code and changes nothing: a table of refused requests,
// each checked against a snapshot of the whole state before and after, on both stores.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';

let server: TestServer;
let api: ReturnType<typeof apiClient>;
let order_id: string;
let endpoint_id: string;

async function snapshot() {
  const skus = await api.get('/v1/skus?limit=500');
  const orders = await api.get('/v1/orders?limit=500');
  const ledger = await api.get('/v1/skus/widget/ledger?limit=500');
  const webhooks = await api.get('/v1/webhooks');
  return { skus: skus.body, orders: orders.body, ledger: ledger.body, webhooks: webhooks.body };
}

const line = (quantity: unknown) => ({ customer_id: 'c', lines: [{ sku: 'widget', quantity }] });
const json = { 'content-type': 'application/json' };

interface BadRequest {
  name: string;
  method?: string;
  path: string | (() => string);
  body?: unknown;
  headers?: Record<string, string>;
  status: number;
  code: string;
  /** What the message must say: the field, the bound or the allowed values, the fix. */
  message?: string;
  /** The Allow header of a 405. */
  allow?: string;
}

/** A lone (unpaired) UTF-16 surrogate: valid in a JSON string, but no store can keep it. */
const LONE = '\ud800';

const BAD_REQUESTS: BadRequest[] = [
  {
    name: 'malformed JSON',
    path: '/v1/orders',
    body: '{"customer_id": "c", "lines": [',
    status: 400,
    code: 'invalid_request',
  },
  { name: 'a JSON array body', path: '/v1/orders', body: '[]', status: 400, code: 'invalid_request' },
  {
    // Found by the fuzzer: 9,000 levels overflowed the stack of the idempotency fingerprint (500).
    name: 'a body nested 9,000 levels deep, on a route without a body schema',
    path: '/v1/orders/0190d7a2-7b9c-7d4e-8f00-000000000001/cancel',
    body: `{"a":${'['.repeat(9000)}${']'.repeat(9000)}}`,
    status: 400,
    code: 'invalid_request',
  },
  { name: 'a JSON string body', path: '/v1/orders', body: '"hello"', status: 400, code: 'invalid_request' },
  { name: 'no body at all', path: '/v1/orders', body: '', status: 400, code: 'invalid_request' },
  { name: 'quantity 0', path: '/v1/orders', body: line(0), status: 400, code: 'invalid_request' },
  { name: 'negative quantity', path: '/v1/orders', body: line(-1), status: 400, code: 'invalid_request' },
  { name: 'fractional quantity', path: '/v1/orders', body: line(1.5), status: 400, code: 'invalid_request' },
  { name: 'quantity as a string', path: '/v1/orders', body: line('2'), status: 400, code: 'invalid_request' },
  {
    name: 'quantity over 1,000,000',
    path: '/v1/orders',
    body: line(1_000_001),
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'quantity 1e300',
    path: '/v1/orders',
    body: '{"customer_id":"c","lines":[{"sku":"widget","quantity":1e300}]}',
    status: 400,
    code: 'invalid_request',
  },
  { name: 'quantity null', path: '/v1/orders', body: line(null), status: 400, code: 'invalid_request' },
  { name: 'quantity boolean', path: '/v1/orders', body: line(true), status: 400, code: 'invalid_request' },
  {
    name: 'no lines',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '101 lines',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: Array.from({ length: 101 }, () => ({ sku: 'widget', quantity: 1 })) },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'lines not an array',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: { sku: 'widget' } },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'missing customer_id',
    path: '/v1/orders',
    body: { lines: [{ sku: 'widget', quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'empty customer_id',
    path: '/v1/orders',
    body: { customer_id: '', lines: [{ sku: 'widget', quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'sku with a space',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [{ sku: 'wid get', quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'sku of 65 characters',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [{ sku: 'a'.repeat(65), quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'unknown field in a line',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [{ sku: 'widget', quantity: 1, price: 0 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'hold_seconds 0',
    path: '/v1/orders',
    body: { ...line(1), hold_seconds: 0 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'hold_seconds over a day',
    path: '/v1/orders',
    body: { ...line(1), hold_seconds: 86_401 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: '__proto__ key',
    path: '/v1/orders',
    body: '{"customer_id":"c","lines":[{"sku":"widget","quantity":1}],"__proto__":{"admin":true}}',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'constructor.prototype key',
    path: '/v1/orders',
    body: '{"customer_id":"c","lines":[],"constructor":{"prototype":{"x":1}}}',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'body over 64 KiB',
    path: '/v1/orders',
    body: { customer_id: 'c'.repeat(70_000), lines: [] },
    status: 413,
    code: 'payload_too_large',
  },
  {
    name: 'text/plain body',
    path: '/v1/orders',
    body: 'customer_id=c',
    headers: { 'content-type': 'text/plain' },
    status: 415,
    code: 'unsupported_media_type',
  },
  {
    name: 'unknown sku in an order',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [{ sku: 'nope', quantity: 1 }] },
    status: 404,
    code: 'sku_not_found',
  },
  {
    name: 'over the per-customer limit',
    path: '/v1/orders',
    body: line(5),
    status: 409,
    code: 'limit_exceeded',
  },
  {
    name: 'more than available',
    path: '/v1/orders',
    body: {
      customer_id: 'd',
      lines: [
        { sku: 'widget', quantity: 5 },
        { sku: 'widget', quantity: 5 },
      ],
    },
    status: 409,
    code: 'limit_exceeded',
  },
  {
    name: 'Idempotency-Key over 255 characters',
    path: '/v1/orders',
    body: line(1),
    headers: { 'idempotency-key': 'k'.repeat(256) },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'create sku with a bad id',
    path: '/v1/skus',
    body: { sku: 'bad/id' },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'create sku with negative available',
    path: '/v1/skus',
    body: { sku: 'new-sku', available: -5 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'create sku that exists',
    path: '/v1/skus',
    body: { sku: 'widget', available: 1 },
    status: 409,
    code: 'sku_exists',
  },
  {
    name: 'create sku with max_per_customer 0',
    path: '/v1/skus',
    body: { sku: 'new-sku', max_per_customer: 0 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'adjustment of 0',
    path: '/v1/skus/widget/adjustments',
    body: { delta: 0 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'adjustment as a string',
    path: '/v1/skus/widget/adjustments',
    body: { delta: '5' },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'adjustment below zero',
    path: '/v1/skus/widget/adjustments',
    body: { delta: -100 },
    status: 409,
    code: 'insufficient_stock',
  },
  {
    name: 'adjustment with a stale expected_available',
    path: '/v1/skus/widget/adjustments',
    body: { delta: 1, expected_available: 3 },
    status: 409,
    code: 'version_conflict',
  },
  {
    name: 'adjustment of an unknown sku',
    path: '/v1/skus/nope/adjustments',
    body: { delta: 1 },
    status: 404,
    code: 'sku_not_found',
  },
  {
    name: 'payment without payment_id',
    path: () => `/v1/orders/${order_id}/payment`,
    body: {},
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'payment of an unknown order',
    path: '/v1/orders/no-such-order/payment',
    body: { payment_id: 'p' },
    status: 404,
    code: 'order_not_found',
  },
  {
    name: 'cancel of an unknown order',
    path: '/v1/orders/no-such-order/cancel',
    status: 404,
    code: 'order_not_found',
  },
  {
    name: 'read an unknown order',
    method: 'GET',
    path: '/v1/orders/no-such-order',
    status: 404,
    code: 'order_not_found',
  },
  { name: 'read an unknown sku', method: 'GET', path: '/v1/skus/nope', status: 404, code: 'sku_not_found' },
  {
    name: 'ledger with an unknown sort order',
    method: 'GET',
    path: '/v1/skus/widget/ledger?order=sideways',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'ledger of an unknown sku',
    method: 'GET',
    path: '/v1/skus/nope/ledger',
    status: 404,
    code: 'sku_not_found',
  },
  {
    name: 'ledger of an unknown order',
    method: 'GET',
    path: '/v1/orders/no-such-order/ledger',
    status: 404,
    code: 'order_not_found',
  },
  {
    name: 'list orders with a bad status',
    method: 'GET',
    path: '/v1/orders?status=shipped',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'list orders with limit 0',
    method: 'GET',
    path: '/v1/orders?limit=0',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'list skus with a forged cursor',
    method: 'GET',
    path: '/v1/skus?cursor=not-a-cursor',
    status: 400,
    code: 'invalid_request',
  },
  // PostgreSQL cannot keep NUL in text: each of these was answered 500 there.
  {
    name: 'a SKU name with a NUL character',
    path: '/v1/skus',
    body: { sku: 'nul-name', name: 'a\u0000b', available: 1 },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a customer_id with a NUL character',
    path: '/v1/orders',
    body: { customer_id: 'c\u0000d', lines: [{ sku: 'widget', quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a payment_id with a NUL character',
    path: () => `/v1/orders/${order_id}/payment`,
    body: { payment_id: 'p\u0000q' },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an adjustment reason with a NUL character',
    path: '/v1/skus/widget/adjustments',
    body: { delta: 1, reason: 'r\u0000s' },
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'an order id with a NUL character',
    method: 'GET',
    path: '/v1/orders/a%00b',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'ledger of an order id with a NUL character',
    method: 'GET',
    path: '/v1/orders/a%00b/ledger',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'cancel of an order id with a NUL character',
    path: '/v1/orders/a%00b/cancel',
    status: 400,
    code: 'invalid_request',
  },
  {
    name: 'a customer_id filter with a NUL character',
    method: 'GET',
    path: '/v1/orders?customer_id=a%00b',
    status: 400,
    code: 'invalid_request',
  },
  { name: 'unknown route', method: 'GET', path: '/v1/nothing-here', status: 404, code: 'not_found' },
  // Lone surrogates: PostgreSQL answered 500 (invalid input syntax for type json), SQLite stored U+FFFD.
  {
    name: 'a customer_id with a lone surrogate',
    path: '/v1/orders',
    body: { customer_id: `x${LONE}y`, lines: [{ sku: 'widget', quantity: 1 }] },
    status: 400,
    code: 'invalid_request',
    message: 'body/customer_id must not contain NUL or an unpaired UTF-16 surrogate',
  },
  {
    name: 'a SKU name with a lone surrogate',
    path: '/v1/skus',
    body: { sku: 'lone-name', name: `a${LONE}`, available: 1 },
    status: 400,
    code: 'invalid_request',
    message: 'body/name must not contain',
  },
  {
    name: 'an adjustment reason with a lone low surrogate',
    path: '/v1/skus/widget/adjustments',
    body: { delta: 1, reason: 'restock \udc00' },
    status: 400,
    code: 'invalid_request',
    message: 'body/reason must not contain',
  },
  {
    name: 'a payment_id with a lone surrogate',
    path: () => `/v1/orders/${order_id}/payment`,
    body: { payment_id: `p${LONE}` },
    status: 400,
    code: 'invalid_request',
    message: 'body/payment_id must not contain',
  },
  {
    name: 'a webhook url with a lone surrogate',
    path: '/v1/webhooks',
    body: { url: `https://shop.example/${LONE}` },
    status: 400,
    code: 'invalid_request',
    message: 'body/url',
  },
  {
    name: 'a webhook secret with a lone surrogate',
    path: '/v1/webhooks',
    body: { url: 'https://shop.example/hook', secret: `${'s'.repeat(16)}${LONE}` },
    status: 400,
    code: 'invalid_request',
    message: 'body/secret must not contain',
  },
  {
    name: 'a query filter with an encoded lone surrogate',
    method: 'GET',
    path: '/v1/orders?customer_id=%ED%A0%80',
    status: 400,
    code: 'invalid_request',
    message: 'querystring/customer_id is not valid percent-encoded UTF-8',
  },
  {
    name: 'a path parameter with an encoded lone surrogate',
    method: 'GET',
    path: '/v1/orders/%ED%A0%80',
    status: 400,
    code: 'invalid_request',
    message: 'the path is not valid percent-encoded UTF-8',
  },
  {
    name: 'an Idempotency-Key that is not printable ASCII',
    path: '/v1/orders',
    body: line(1),
    headers: { 'idempotency-key': 'k\u00ed\u00a0\u0080' },
    status: 400,
    code: 'invalid_request',
    message: 'headers/idempotency-key',
  },
  // Integers past what the stores hold: before_event_id was a 500 on PostgreSQL (out of range for bigint).
  {
    name: 'before_event_id past 2^63',
    method: 'GET',
    path: () => `/v1/webhooks/${endpoint_id}/deliveries?before_event_id=9223372036854775807`,
    status: 400,
    code: 'invalid_request',
    message: 'querystring/before_event_id must be <= 9007199254740991',
  },
  {
    name: 'expected_available past 2^53 - 1',
    path: '/v1/skus/widget/adjustments',
    body: '{"delta":1,"expected_available":9007199254740992}',
    status: 400,
    code: 'invalid_request',
    message: 'body/expected_available must be <= 9007199254740991',
  },
  {
    name: 'a page limit past 2^63',
    method: 'GET',
    path: '/v1/skus?limit=9223372036854775807',
    status: 400,
    code: 'invalid_request',
    message: 'querystring/limit must be <= 500',
  },
  // Unknown fields are refused everywhere, also where a route takes no body.
  {
    name: 'a body with a field sent to cancel',
    path: () => `/v1/orders/${order_id}/cancel`,
    body: { reason: 'changed my mind' },
    status: 400,
    code: 'invalid_request',
    message: 'body has an unknown field "reason" (this takes no fields)',
  },
  {
    name: 'a body with a field sent to delete a webhook endpoint',
    method: 'DELETE',
    path: () => `/v1/webhooks/${endpoint_id}`,
    body: { force: true },
    status: 400,
    code: 'invalid_request',
    message: 'unknown field "force"',
  },
  {
    name: 'an unknown query parameter on a route that takes none',
    method: 'GET',
    path: () => `/v1/orders/${order_id}?expand=lines`,
    status: 400,
    code: 'invalid_request',
    message: 'querystring has an unknown field "expand"',
  },
  {
    name: 'an unknown query parameter names the allowed ones',
    method: 'GET',
    path: '/v1/orders?state=paid',
    status: 400,
    code: 'invalid_request',
    message: 'querystring has an unknown field "state" (allowed: status, sku, customer_id, limit, cursor)',
  },
  {
    name: 'an unknown top-level field names it and the allowed ones',
    path: '/v1/orders',
    body: { ...line(1), coupon: 'X' },
    status: 400,
    code: 'invalid_request',
    message:
      'body has an unknown field "coupon" (allowed: customer_id, lines, hold_seconds, admission_token)',
  },
  {
    name: 'an unknown field in a line names it',
    path: '/v1/orders',
    body: { customer_id: 'c', lines: [{ sku: 'widget', quantity: 1, price: 0 }] },
    status: 400,
    code: 'invalid_request',
    message: 'body/lines/0 has an unknown field "price" (allowed: sku, quantity)',
  },
  {
    name: 'an order status outside the enum lists the allowed values once',
    method: 'GET',
    path: '/v1/orders?status=bogus',
    status: 400,
    code: 'invalid_request',
    message: 'querystring/status must be one of: pending_payment, paid, cancelled, expired',
  },
  {
    name: 'a webhook event type outside the enum lists the allowed values',
    path: '/v1/webhooks',
    body: { url: 'https://shop.example/hook', event_types: ['order.shipped'] },
    status: 400,
    code: 'invalid_request',
    message: 'body/event_types/0 must be one of: sku.created, sku.adjusted, order.held',
  },
  {
    name: 'a webhook url that is not http(s)',
    path: '/v1/webhooks',
    body: { url: 'ftp://shop.example/hook' },
    status: 400,
    code: 'invalid_request',
    message: 'body/url must be an absolute http(s) URL',
  },
  {
    name: 'a body without a content type says which to send',
    path: '/v1/orders',
    body: JSON.stringify(line(1)),
    headers: { 'content-type': '' },
    status: 415,
    code: 'unsupported_media_type',
    message: 'send Content-Type: application/json',
  },
  // Methods a known path does not answer.
  {
    name: 'DELETE on the SKU collection',
    method: 'DELETE',
    path: '/v1/skus',
    status: 405,
    code: 'method_not_allowed',
    message: 'allowed: GET, HEAD, POST',
    allow: 'GET, HEAD, POST',
  },
  {
    name: 'QUERY on the SKU collection, without a content type',
    method: 'QUERY',
    path: '/v1/skus',
    status: 405,
    code: 'method_not_allowed',
    allow: 'GET, HEAD, POST',
  },
  {
    name: 'PUT on an order',
    method: 'PUT',
    path: () => `/v1/orders/${order_id}`,
    body: { status: 'paid' },
    status: 405,
    code: 'method_not_allowed',
    // PATCH changes a held order's lines (issue 23).
    allow: 'GET, HEAD, PATCH',
  },
];

describe.each(DIALECTS)('bad requests on %s', (dialect) => {
  let database: TestDatabase | null = null;
  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    // Webhook targets are not contacted here: the check would refuse a made-up host.
    const check_target = async () => {};
    server = await startTestServer(
      database ? { database_url: database.url, check_target } : { check_target },
    );
    api = apiClient(server.url);
    await api.post('/v1/skus', { sku: 'widget', available: 10, max_per_customer: 5 });
    endpoint_id = (await api.post('/v1/webhooks', { url: 'https://shop.example/hooks/stock' })).body.id;
    order_id = (await api.post('/v1/orders', { customer_id: 'c', lines: [{ sku: 'widget', quantity: 1 }] }))
      .body.id;
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });

  it('has at least 30 cases', () => {
    expect(BAD_REQUESTS.length).toBeGreaterThanOrEqual(30);
  });

  it.each(BAD_REQUESTS)('$name: $status $code, nothing changed', async (bad) => {
    const before = await snapshot();
    const path = typeof bad.path === 'function' ? bad.path() : bad.path;
    const body = bad.body === undefined || typeof bad.body === 'string' ? bad.body : JSON.stringify(bad.body);
    const headers = { ...(body === undefined ? {} : json), ...bad.headers };
    const answer = await api.raw(bad.method ?? 'POST', path, body, headers);
    expect(answer.status).toBe(bad.status);
    expect(answer.body.error.code).toBe(bad.code);
    expect(typeof answer.body.error.message).toBe('string');
    if (bad.message !== undefined) expect(answer.body.error.message).toContain(bad.message);
    if (bad.allow !== undefined) expect(answer.headers.get('allow')).toBe(bad.allow);
    expect(await snapshot()).toEqual(before);
    await expectConservation(server.store);
  });
});
