// Hardening: security headers (and a working Swagger UI under them), no stack traces or SQL in
// error answers, a route without an access rule stops the start, rate limits, secrets not logged.
import { rmSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServe } from '../support/cli.ts';
import { startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { bearer, createTestKeys, probe, type TestKeys } from './support.ts';

async function failingRoute(app: FastifyInstance) {
  app.get('/test/fail', { config: { access: 'public' } }, async () => {
    throw new Error('SQLITE_ERROR: near "DROP": syntax error in SELECT * FROM orders WHERE secret = 1');
  });
}

describe('security headers and error answers', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ plugins: [failingRoute] });
  });
  afterAll(() => server.dispose());

  it('sends helmet headers and a self-only content security policy on the pages: /, /docs', async () => {
    for (const path of ['/', '/docs', '/docs/static/index.html']) {
      const { headers } = await probe(server.url, 'GET', path, {});
      expect(headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(headers.get('x-frame-options'), path).toBe('SAMEORIGIN');
      expect(headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(headers.get('content-security-policy'), path).toContain("frame-ancestors 'none'");
      expect(headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
    }
  });

  it("sends the API's short set on /v1 answers, refusals included: load nothing, framed by nothing", async () => {
    for (const [method, path] of [
      ['GET', '/v1/skus'],
      ['GET', '/v1/orders/no-such-order'],
      ['POST', '/v1/orders'],
    ] as const) {
      const { headers } = await probe(server.url, method, path, {});
      expect(headers.get('content-security-policy'), path).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(headers.get('x-frame-options'), path).toBe('DENY');
      expect(headers.get('cross-origin-resource-policy'), path).toBe('same-origin');
      expect(headers.get('referrer-policy'), path).toBe('no-referrer');
      expect(headers.get('x-dns-prefetch-control'), path).toBeNull();
    }
  });

  it('serves the Swagger UI under that policy: its page loads only scripts and styles from itself', async () => {
    const page = await fetch(`${server.url}/docs`);
    expect(page.status).toBe(200);
    const html = await page.text();
    const sources = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((match) => match[1]!);
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) expect(source, source).not.toMatch(/^(https?:)?\/\//);
    expect(html).not.toMatch(/<script>(?!\s*<\/script>)/);
    for (const source of sources.filter((entry) => entry.endsWith('.js') || entry.endsWith('.css'))) {
      const asset = await fetch(new URL(source, page.url));
      expect(asset.status, source).toBe(200);
      // Read to the end: an unread body keeps its response in flight, and closing the server waits for it.
      expect((await asset.arrayBuffer()).byteLength, source).toBeGreaterThan(0);
    }
  });

  it('answers an internal failure with internal_error and no stack trace or SQL', async () => {
    const response = await fetch(`${server.url}/test/fail`);
    const text = await response.text();
    expect(response.status).toBe(500);
    expect(JSON.parse(text).error.code).toBe('internal_error');
    for (const leak of ['SQLITE', 'SELECT', 'stack', '.ts:', 'at ']) expect(text).not.toContain(leak);
  });

  it('answers headers over 16 KiB with 431 and no crash', async () => {
    const response = await fetch(`${server.url}/healthz`, { headers: { 'x-padding': 'p'.repeat(20_000) } });
    expect(response.status).toBe(431);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });
});

describe('every route declares an access rule', () => {
  it('refuses to start when a route has no config.access', async () => {
    const unruled = async (app: FastifyInstance) => {
      app.get('/test/unruled', async () => ({ open: true }));
    };
    await expect(startTestServer({ plugins: [unruled] })).rejects.toThrow(
      'route GET /test/unruled declares no config.access rule',
    );
  });
});

describe('rate limits', () => {
  let server: TestServer;
  let keys: TestKeys;
  beforeAll(async () => {
    const { url } = temporarySqliteUrl();
    keys = await createTestKeys(url);
    server = await startTestServer({
      database_url: url,
      env: { RATE_LIMIT_PER_CUSTOMER_PER_MINUTE: '2', RATE_LIMIT_PER_KEY_PER_SECOND: '1000' },
    });
    const created = await probe(server.url, 'POST', '/v1/skus', bearer(keys.admin), {
      sku: 'hot',
      available: 100,
    });
    expect(created.status).toBe(201);
  });
  afterAll(() => server.dispose());

  it('answers the third checkout of one customer within a minute 429 rate_limited with Retry-After, holding nothing', async () => {
    const body = { customer_id: 'bot', lines: [{ sku: 'hot', quantity: 1 }] };
    for (let i = 0; i < 2; i++) {
      expect((await probe(server.url, 'POST', '/v1/orders', bearer(keys.checkout), body)).status).toBe(201);
    }
    const before = await server.store.getSku('hot');
    const limited = await probe(server.url, 'POST', '/v1/orders', bearer(keys.checkout), body);
    expect(limited.status).toBe(429);
    expect(limited.code).toBe('rate_limited');
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(await server.store.getSku('hot')).toEqual(before);
    expect((await server.store.listOrders({ customer_id: 'bot', limit: 10 })).length).toBe(2);
    // Other shoppers of the same storefront key are not held back by the bot.
    const shopper = { customer_id: 'shopper', lines: [{ sku: 'hot', quantity: 1 }] };
    expect((await probe(server.url, 'POST', '/v1/orders', bearer(keys.checkout), shopper)).status).toBe(201);
  });

  it('answers requests over the per-key limit 429 with Retry-After', async () => {
    const limited_server = await startTestServer({
      env: { STOCKHOLD_API_KEYS: `read:${keys.read}`, RATE_LIMIT_PER_KEY_PER_SECOND: '1' },
    });
    try {
      // Limit 1 per second: of 20 back-to-back requests, some share a window (no timing asserted).
      const statuses: number[] = [];
      let limited: Awaited<ReturnType<typeof probe>> | undefined;
      for (let i = 0; i < 20; i++) {
        const answer = await probe(limited_server.url, 'GET', '/v1/skus', bearer(keys.read));
        statuses.push(answer.status);
        if (answer.status === 429) limited = answer;
      }
      expect(statuses).toContain(429);
      expect(limited!.code).toBe('rate_limited');
      expect(limited!.headers.get('retry-after')).toMatch(/^\d+$/);
    } finally {
      await limited_server.dispose();
    }
  });
});

describe('logs', () => {
  it('never show the Authorization header or the keys of STOCKHOLD_API_KEYS, even at trace level', async () => {
    const key = `sh_admin_${'s'.repeat(43)}`;
    const { url, directory } = temporarySqliteUrl();
    const {
      child,
      url: base_url,
      output,
    } = await startServe({
      DATABASE_URL: url,
      LOG_LEVEL: 'trace',
      STOCKHOLD_API_KEYS: `admin:${key}`,
    });
    try {
      expect((await probe(base_url, 'GET', '/v1/skus', bearer(key))).status).toBe(200);
      expect((await probe(base_url, 'GET', '/v1/skus', bearer(`${key}x`))).status).toBe(401);
    } finally {
      // 'close': exited, and every line it printed has been read.
      const closed = new Promise((resolve) => child.on('close', resolve));
      child.kill('SIGTERM');
      await closed;
      rmSync(directory, { recursive: true, force: true });
    }
    const logged = output.join('\n');
    expect(logged).toContain('request completed');
    expect(logged).not.toContain('s'.repeat(43));
  });
});
