import { connect } from 'node:net';
import fc from 'fast-check';
import type { FastifyInstance, RouteOptions } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { buildApp } from '../../src/http/app.ts';
import { EventHub } from '../../src/http/event-hub.ts';
import { CommandQueue } from '../../src/store/command-queue.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { DialectName } from '../../src/store/migrations.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';
import { envCount, expectVerified, reportFigure } from './support.ts';

const INPUTS = envCount('STOCKHOLD_FUZZ_INPUTS', 2000);
const seed_env = process.env.STOCKHOLD_FUZZ_SEED;

interface Route {
  method: string;
  url: string;
}

let test_store: TestStore;
let store: KyselyStore;
let app: FastifyInstance;
let order_id: string;
const routes: Route[] = [];

/** The app under fuzz, on a fresh store of `dialect` (PostgreSQL refuses things SQLite keeps). */
async function setUp(dialect: DialectName): Promise<void> {
  routes.length = 0;
  test_store = await openTestStore(dialect);
  store = test_store.store;
  const clock = new ManualClock();
  const queue = new CommandQueue(store, clock, {
    coalesce: true,
    batch_size_max: 64,
    queue_length_max: 1000,
  });
  const events = new EventHub(store);
  app = await buildApp(
    { store, queue, clock, events, default_hold_seconds: 900 },
    {
      logger: false,
      plugins: [
        async (instance) => {
          instance.addHook('onRoute', (route: RouteOptions) => {
            for (const method of [route.method].flat()) {
              if (method === 'HEAD') continue;
              routes.push({ method, url: route.url });
            }
          });
        },
      ],
    },
  );
  await app.ready();
  const api = (method: 'POST', url: string, payload: unknown) =>
    app.inject({ method, url, payload: payload as object });
  await api('POST', '/v1/skus', { sku: 'fz', available: 100, max_per_customer: 50 });
  await api('POST', '/v1/skus', { sku: 'fz2', available: 3 });
  const order = await api('POST', '/v1/orders', { customer_id: 'c', lines: [{ sku: 'fz', quantity: 1 }] });
  order_id = order.json().id;
  events.stop();
}

async function tearDown(): Promise<void> {
  await app?.close();
  await test_store?.dispose();
}

/** Everything a refused request must leave alone, in a few aggregate queries. */
async function stateFingerprint(): Promise<{ domain: string; keys: string }> {
  const db = rawDatabase(store);
  const rows = await Promise.all([
    sql`select count(*) as n, sum(available) as a, sum(on_hold) as h, sum(sold) as s, sum(version) as v from skus`.execute(
      db,
    ),
    sql`select status, count(*) as n from orders group by status order by status`.execute(db),
    sql`select count(*) as n from ledger`.execute(db),
    sql`select coalesce(max(id), 0) as n from outbox`.execute(db),
    sql`select count(*) as n, coalesce(sum(quantity), 0) as q from holds`.execute(db),
  ]);
  const keys = await sql`select count(*) as n from idempotency_keys`.execute(db);
  return { domain: JSON.stringify(rows.map((result) => result.rows)), keys: JSON.stringify(keys.rows) };
}

/** Refusals before any decision: they store nothing, not even under their Idempotency-Key. A decided
 * refusal (order_not_found, insufficient_stock...) is kept under its key by design, so a retry gets it. */
const UNDECIDED_CODES = new Set([
  'invalid_request',
  'payload_too_large',
  'unsupported_media_type',
  'not_found',
]);

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const hostileNumber = fc.oneof(
  fc.constantFrom(0, -0, -1, 1, 1e308, -1e308, 2 ** 53, 2 ** 53 + 2, 2 ** 63, 1_000_001, 86_401, 0.5, 1e-7),
  fc.integer(),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const hostileString = fc.oneof(
  fc.string(),
  fc.string({ unit: 'grapheme', maxLength: 80 }),
  fc.string({ unit: 'binary', maxLength: 80 }),
  fc.constantFrom(
    '',
    ' ',
    'fz',
    'fz2',
    '__proto__',
    'constructor',
    'prototype',
    '../../etc/passwd',
    '\u0000',
    // Lone surrogates: PostgreSQL cannot keep them in json or text (answered 500 there).
    '\ud800',
    'a\udc00b',
    '.',
    '..',
    'a'.repeat(70_000),
  ),
);
const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { depthSize: 'small' },
  hostileNumber,
  hostileString,
  fc.constant(null),
  fc.boolean(),
  fc.jsonValue({ maxDepth: 3 }),
);
/** Bodies close to the real ones, with one or more fields hostile: they reach the deep checks. */
const nearlyValidBody = fc.oneof(
  fc.record(
    {
      customer_id: fc.oneof(fc.constant('c'), hostileValue),
      lines: fc.oneof(
        fc.array(
          fc.record(
            {
              sku: fc.oneof(fc.constantFrom('fz', 'fz2'), hostileValue),
              quantity: fc.oneof(fc.integer({ min: 1, max: 3 }), hostileValue),
            },
            { requiredKeys: [] },
          ),
          { maxLength: 120 },
        ),
        hostileValue,
      ),
      hold_seconds: hostileValue,
    },
    { requiredKeys: [] },
  ),
  fc.record(
    {
      sku: fc.oneof(fc.constantFrom('fz', 'new-sku'), hostileValue),
      available: hostileValue,
      name: hostileValue,
      max_per_customer: hostileValue,
      delta: hostileValue,
      expected_available: hostileValue,
      reason: hostileValue,
      payment_id: hostileValue,
    },
    { requiredKeys: [] },
  ),
);
/** Raw bodies: bytes, truncated JSON, and prototype-pollution keys JSON.stringify would not write. */
const rawBody = fc.oneof(
  fc.uint8Array({ maxLength: 300 }).map((bytes) => Buffer.from(bytes)),
  fc.constantFrom(
    '{"__proto__":{"polluted":1},"customer_id":"c","lines":[{"sku":"fz","quantity":1}]}',
    '{"constructor":{"prototype":{"polluted":1}},"sku":"p1","available":1}',
    '{"sku":"p2","available":1,"__proto__":{"available":999}}',
    '{"lines":[{"sku":"fz","quantity":1,"__proto__":{"quantity":1000000}}],"customer_id":"c"}',
    '{"delta": 1e400}',
    '{"delta": 1',
    '[]',
    'null',
    '"string"',
    '{"sku":"fz","sku":"fz2","available":1}',
    `{"a":${'['.repeat(5000)}${']'.repeat(5000)}}`,
  ),
  nearlyValidBody.map((body) => JSON.stringify(body).slice(0, 70_000 + 100)),
);

const headerValue = fc.oneof(
  fc.string({ maxLength: 300 }),
  fc.constantFrom(
    '',
    ' ',
    '0',
    '-1',
    '99999999999999999999',
    'a'.repeat(256),
    'a'.repeat(255),
    'é',
    '1,2',
    '12abc',
  ),
);

const request = fc.record({
  route: fc.nat(),
  /** What path parameters become: the real ids, or junk. */
  param: fc.oneof(
    // '\u0000' is sent percent-encoded: a NUL in an id (PostgreSQL cannot compare text with it).
    fc.constantFrom('fz', 'fz2', '@order', 'nope', '%00', '\u0000', '..', '%2F', 'a'.repeat(250)),
    fc.string({ maxLength: 40 }),
  ),
  body: fc.oneof(
    nearlyValidBody.map((body) => JSON.stringify(body)),
    rawBody,
    fc.constant(undefined),
  ),
  content_type: fc.oneof(
    fc.constant('application/json'),
    fc.constantFrom(
      'application/json; charset=utf-8',
      'application/json; charset=latin1',
      'text/plain',
      'application/x-www-form-urlencoded',
      'multipart/form-data; boundary=x',
      'application/json, text/plain',
      '',
    ),
    fc.string({ maxLength: 40 }),
  ),
  content_length: fc.option(fc.oneof(fc.nat({ max: 100_000 }), fc.constantFrom(-1, 2 ** 40)), {
    nil: undefined,
  }),
  idempotency_key: fc.option(headerValue, { nil: undefined }),
  last_event_id: fc.option(headerValue, { nil: undefined }),
  query: fc.option(
    fc.dictionary(
      fc.constantFrom('limit', 'cursor', 'status', 'sku', 'customer_id', '__proto__', 'constructor'),
      fc.oneof(hostileString, hostileNumber.map(String)),
      { maxKeys: 4 },
    ),
    { nil: undefined },
  ),
});

// ---------------------------------------------------------------------------------------------

describe.each(DIALECTS)('on %s', (dialect) => {
  beforeAll(() => setUp(dialect));
  afterAll(tearDown);

  describe('hostile input against every route', () => {
    const counts = { inputs: 0, refused: 0, accepted: 0, not_deliverable: 0, status_5xx: 0 };

    it('answers every input below 500, and a refused input changes nothing', async () => {
      // The event stream never ends, so it is fuzzed over a real socket below, not with inject.
      const fuzzed = routes.filter((route) => route.url !== '/v1/events');
      expect(fuzzed.map((route) => `${route.method} ${route.url}`)).toEqual(
        expect.arrayContaining([
          'POST /v1/orders',
          'POST /v1/orders/:id/payment',
          'POST /v1/skus/:sku/adjustments',
        ]),
      );
      let before = await stateFingerprint();
      await fc.assert(
        fc.asyncProperty(request, async (input) => {
          const route = fuzzed[input.route % fuzzed.length]!;
          const param = input.param === '@order' ? order_id : encodeURIComponent(input.param);
          let url = route.url.replace(/:[a-z_]+/g, param).replace('*', param);
          if (input.query) url += `?${new URLSearchParams(input.query as Record<string, string>).toString()}`;
          const headers: Record<string, string> = {};
          if (input.content_type !== '') headers['content-type'] = input.content_type;
          if (input.idempotency_key !== undefined) headers['idempotency-key'] = input.idempotency_key;
          if (input.last_event_id !== undefined) headers['last-event-id'] = input.last_event_id;
          if (input.content_length !== undefined) headers['content-length'] = String(input.content_length);
          counts.inputs += 1;
          let response: Awaited<ReturnType<typeof app.inject>>;
          try {
            response = await app.inject({
              method: route.method as 'GET',
              url,
              headers,
              payload: route.method === 'GET' ? undefined : input.body,
            });
          } catch (error) {
            // Node's HTTP layer refuses some headers (control characters) before any server sees them.
            if (
              (error as { code?: string }).code === 'ERR_INVALID_CHAR' ||
              (error as Error).name === 'TypeError'
            ) {
              counts.not_deliverable += 1;
              return;
            }
            throw error;
          }
          if (response.statusCode >= 500) counts.status_5xx += 1;
          expect(response.statusCode, `${route.method} ${url}: ${response.body.slice(0, 300)}`).toBeLessThan(
            500,
          );
          const after = await stateFingerprint();
          if (response.statusCode >= 400) {
            counts.refused += 1;
            expect(after.domain, `refused ${route.method} ${url} changed the state`).toBe(before.domain);
            const code = response.headers['content-type']?.toString().includes('json')
              ? response.json().error?.code
              : undefined;
            if (UNDECIDED_CODES.has(code)) {
              expect(after.keys, `refused ${route.method} ${url} stored its key`).toBe(before.keys);
            }
            if (response.headers['content-type']?.toString().includes('json')) {
              expect(
                response.json().error?.code,
                `${route.method} ${url}: ${response.body.slice(0, 300)}`,
              ).toEqual(expect.any(String));
            }
          } else {
            counts.accepted += 1;
          }
          before = after;
          expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        }),
        { numRuns: INPUTS, seed: seed_env ? Number(seed_env) : undefined, endOnFailure: true },
      );
      await expectVerified(store);
      reportFigure(`fuzz inputs (inject, ${dialect})`, JSON.stringify(counts));
    }, 1_200_000);
  });

  describe('paths the router refuses', () => {
    it('answers a path parameter over 200 characters and broken percent-encoding in the API error shape', async () => {
      // Found by this fuzzer: Fastify answered these with its own body ({"error":"Bad Request","code":"FST_..."}).
      for (const url of [`/v1/orders/${'a'.repeat(201)}/cancel`, '/v1/skus/%E0%A4%A']) {
        const response = await app.inject({ method: url.endsWith('cancel') ? 'POST' : 'GET', url });
        expect(response.statusCode, url).toBe(400);
        expect(response.json(), url).toEqual({
          error: { code: 'invalid_request', message: expect.any(String) },
        });
      }
    });
  });
});

describe('hostile input over real sockets', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    await apiClient(server.url).post('/v1/skus', { sku: 'fz', available: 10 });
  });
  afterAll(async () => {
    await server?.dispose();
  });

  /** Writes raw bytes, returns the status line the server answered (or '' if it just closed). */
  function raw(bytes: string | Buffer, wait_ms = 2000): Promise<string> {
    const { port } = new URL(server.url);
    return new Promise((resolve) => {
      const socket = connect(Number(port), '127.0.0.1');
      let received = '';
      const done = () => {
        socket.destroy();
        resolve(received.split('\r\n')[0] ?? '');
      };
      const timer = setTimeout(done, wait_ms);
      socket.on('data', (chunk) => {
        received += String(chunk);
        if (received.includes('\r\n\r\n')) {
          clearTimeout(timer);
          done();
        }
      });
      socket.on('error', () => {
        clearTimeout(timer);
        done();
      });
      socket.on('close', () => {
        clearTimeout(timer);
        done();
      });
      socket.write(bytes);
      socket.end();
    });
  }

  it('survives malformed HTTP, lying content lengths, junk Last-Event-ID and huge bodies, and changes nothing', async () => {
    const api = apiClient(server.url);
    const before = await api.get('/v1/skus/fz');
    const body = '{"customer_id":"c","lines":[{"sku":"fz","quantity":1}]}';
    const cases = [
      'GARBAGE\r\n\r\n',
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n${body}`,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n${body}`,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -3\r\n\r\n${body}`,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\nzz\r\n`,
      `POST /v1/orders HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffff\r\n{}\r\n0\r\n\r\n`,
      `POST /v1/skus/fz/adjustments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${70_000}\r\n\r\n{"delta":1,"reason":"${'a'.repeat(69_980)}"}`,
      `GET /v1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: -1\r\n\r\n`,
      `GET /v1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 99999999999999999999999\r\n\r\n`,
      `GET /v1/events HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 1e3\r\n\r\n`,
      `GET /v1/skus/${'%'.repeat(3000)} HTTP/1.1\r\nHost: x\r\n\r\n`,
      `GET /v1/skus HTTP/1.1\r\nHost: x\r\n${'X-Junk: a\r\n'.repeat(3000)}\r\n`,
    ];
    for (const bytes of cases) {
      const status = await raw(bytes);
      expect(status, bytes.slice(0, 120)).not.toMatch(/ 5\d\d /);
    }
    // The stream itself, resumed from a junk position: refused, never a 5xx; a valid one opens.
    for (const last_event_id of ['abc', '-5', '9'.repeat(40), '0', '1']) {
      const controller = new AbortController();
      const response = await fetch(`${server.url}/v1/events`, {
        headers: { 'last-event-id': last_event_id },
        signal: controller.signal,
      });
      expect(response.status, last_event_id).toBeLessThan(500);
      controller.abort();
    }
    expect((await api.get('/healthz')).status).toBe(200);
    expect(await api.get('/v1/skus/fz')).toMatchObject({ status: 200, body: before.body });
    await expectVerified(server.store);
    reportFigure('fuzz inputs (raw sockets)', cases.length + 6);
  });
});
