// Every route of the real app (collected as it registers, so a new route is included on its own)
// against no key, a wrong key, a revoked key and a key of each scope: 401, 403 or let through by
// its rule, and a refused call changes nothing.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessRule } from '../../src/http/access.ts';
import { startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { bearer, createTestKeys, probe, type TestKeys } from './support.ts';

interface CollectedRoute {
  method: string;
  url: string;
  access: AccessRule;
}

const routes: CollectedRoute[] = [];
async function collectRoutes(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) {
      if (method === 'HEAD') continue;
      routes.push({ method, url: route.url, access: route.config!.access! });
    }
  });
}

let server: TestServer;
let keys: TestKeys;
let order_id: string;
const SKU = 'guarded';

beforeAll(async () => {
  const { url } = temporarySqliteUrl();
  keys = await createTestKeys(url);
  server = await startTestServer({
    database_url: url,
    plugins: [collectRoutes],
    env: { API_KEY_CACHE_TTL_MS: '0' },
  });
  const admin = bearer(keys.admin);
  expect((await probe(server.url, 'POST', '/v1/skus', admin, { sku: SKU, available: 100 })).status).toBe(201);
  const created = await fetch(`${server.url}/v1/orders`, {
    method: 'POST',
    headers: { ...bearer(keys.checkout), 'content-type': 'application/json' },
    body: JSON.stringify({ customer_id: 'c1', lines: [{ sku: SKU, quantity: 1 }] }),
  });
  order_id = ((await created.json()) as { id: string }).id;
});
afterAll(() => server.dispose());

/** A plausible request for each route: path parameters filled in, a valid body for POSTs. */
function requestFor(route: CollectedRoute): { path: string; body?: unknown } {
  const path = route.url.replace(':sku', SKU).replace(':id', order_id);
  if (route.method !== 'POST') return { path };
  const bodies: Record<string, unknown> = {
    '/v1/skus': { sku: `new-${Math.random().toString(36).slice(2)}`, available: 1 },
    '/v1/skus/:sku/adjustments': { delta: 1 },
    '/v1/orders': { customer_id: 'c2', lines: [{ sku: SKU, quantity: 1 }] },
    '/v1/orders/:id/payment': { payment_id: 'p1' },
    '/v1/orders/:id/cancel': {},
  };
  return { path, body: bodies[route.url] ?? {} };
}

async function snapshot(): Promise<string> {
  const skus = await server.store.listSkus(1000);
  const orders = await server.store.listOrders({ limit: 1000 });
  return JSON.stringify({ skus, orders });
}

const CALLERS = ['no key', 'wrong key', 'revoked key', 'admin', 'checkout', 'read'] as const;
type Caller = (typeof CALLERS)[number];

function headersOf(caller: Caller): Record<string, string> {
  switch (caller) {
    case 'no key':
      return {};
    case 'wrong key':
      return bearer(`sh_admin_${'x'.repeat(43)}`);
    case 'revoked key':
      return bearer(keys.revoked);
    default:
      return bearer(keys[caller]);
  }
}

function expected(rule: AccessRule, caller: Caller): 'allowed' | 401 | 403 {
  if (rule === 'public') return 'allowed';
  if (caller === 'no key' || caller === 'wrong key' || caller === 'revoked key') return 401;
  if (caller === 'admin' || rule.scopes.includes(caller)) return 'allowed';
  return 403;
}

describe('access to every route', () => {
  it('collects the routes of the real app, each with a rule', () => {
    const names = routes.map((route) => `${route.method} ${route.url}`);
    for (const name of ['GET /healthz', 'POST /v1/skus', 'POST /v1/orders', 'GET /v1/events']) {
      expect(names).toContain(name);
    }
    for (const route of routes) expect(route.access).toBeDefined();
  });

  it('answers 401, 403 or lets through by the route rule, and a refused call changes nothing', async () => {
    const outcomes: string[] = [];
    for (const route of routes) {
      for (const caller of CALLERS) {
        const { path, body } = requestFor(route);
        const before = await snapshot();
        const answer = await probe(server.url, route.method, path, headersOf(caller), body);
        const want = expected(route.access, caller);
        const name = `${route.method} ${route.url} as ${caller}`;
        if (want === 'allowed') {
          expect([401, 403], name).not.toContain(answer.status);
          outcomes.push(`${name}: ${answer.status}`);
        } else {
          expect(answer.status, name).toBe(want);
          expect(answer.code, name).toBe(want === 401 ? 'unauthorized' : 'forbidden');
          expect(await snapshot(), `${name} changed nothing`).toBe(before);
        }
      }
    }
    if (process.env.DEBUG_ACCESS) console.log(outcomes.join('\n'));
    expect(outcomes.length).toBeGreaterThan(routes.length);
  });

  it('lets anyone read /docs and /openapi.json, which hold no data', async () => {
    expect((await probe(server.url, 'GET', '/docs', {})).status).toBe(200);
    expect((await probe(server.url, 'GET', '/openapi.json', {})).status).toBe(200);
  });

  it('refuses a malformed Authorization header as a missing key', async () => {
    for (const authorization of [keys.admin, `Basic ${keys.admin}`, 'Bearer', `Bearer ${'k'.repeat(300)}`]) {
      const answer = await probe(server.url, 'GET', '/v1/skus', { authorization });
      expect(answer.status).toBe(401);
    }
  });
});
