// Which answers get which security headers: pages a browser renders (the dashboard, /docs) get
// helmet's set; every other answer is data (health, readiness, the OpenAPI document, metrics, a 404)
// and gets the API's short set, which lets it load nothing and be framed by nothing.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isPageUrl } from '../../src/security/hardening.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { probe } from './support.ts';

describe('security headers by kind of answer', () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.dispose());

  it('sends the short API set on health, readiness, the OpenAPI document, metrics and unknown paths', async () => {
    for (const path of [
      '/healthz',
      '/readyz',
      '/openapi.json',
      '/metrics',
      '/no-such-page',
      '/healthz?x=1',
    ]) {
      const { headers } = await probe(server.url, 'GET', path, {});
      expect(headers.get('content-security-policy'), path).toBe("default-src 'none'; frame-ancestors 'none'");
      expect(headers.get('x-frame-options'), path).toBe('DENY');
      expect(headers.get('x-content-type-options'), path).toBe('nosniff');
      expect(headers.get('x-dns-prefetch-control'), path).toBeNull();
    }
  });

  it("keeps helmet's page set on the dashboard, its icon and the Swagger UI", async () => {
    for (const path of ['/', '/favicon.ico', '/docs', '/docs/static/index.html', '/drops/console-1212']) {
      const { headers } = await probe(server.url, 'GET', path, {});
      expect(headers.get('content-security-policy'), path).toContain("script-src 'self'");
      expect(headers.get('x-frame-options'), path).toBe('SAMEORIGIN');
      expect(headers.get('cross-origin-opener-policy'), path).toBe('same-origin');
    }
  });

  it('tells pages from data by the URL alone', () => {
    expect(
      [
        '/',
        '/?tab=orders',
        '/docs',
        '/docs/json',
        '/assets/app-1a2b.js',
        '/favicon.svg',
        '/drops/d-1',
      ].filter(isPageUrl),
    ).toHaveLength(7);
    expect(
      ['/v1/skus', '/v1/drops/d-1', '/healthz', '/readyz', '/openapi.json', '/metrics', '/index.html'].some(
        isPageUrl,
      ),
    ).toBe(false);
  });
});
