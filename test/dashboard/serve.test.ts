// Serving the dashboard shell and a drop's waiting page, their build hint, the refusal counters, and closing with open streams.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dashboardPlugin } from '../../src/dashboard/serve.ts';
import { SseParser } from '../../src/dashboard/web/sse.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { buildDashboardIfStale } from './browser.ts';

describe('GET / and its assets', () => {
  let server: TestServer;
  beforeAll(async () => {
    buildDashboardIfStale();
    server = await startTestServer();
  });
  afterAll(() => server.dispose());

  it('serves the built page with external module scripts only (no inline script, for a strict CSP)', async () => {
    const response = await fetch(`${server.url}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toContain('text/html');
    const html = await response.text();
    const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
    expect(scripts.length).toBeGreaterThan(0);
    for (const [, attributes, body] of scripts) {
      expect(attributes).toMatch(/\bsrc="\/assets\//);
      expect(body!.trim()).toBe('');
    }
    expect(html).not.toMatch(/\son[a-z]+="/); // no inline event handlers either
    const asset = html.match(/src="(\/assets\/[^"]+\.js)"/)![1]!;
    const script = await fetch(`${server.url}${asset}`);
    expect(script.status).toBe(200);
    expect(script.headers.get('cache-control')).toContain('immutable');
  });

  it("serves a drop's waiting page at /drops/{id}, whatever the id: the same public shell, its own script", async () => {
    const index = await (await fetch(`${server.url}/`)).text();
    for (const id of ['console-1212', 'no-such-drop']) {
      const response = await fetch(`${server.url}/drops/${id}`);
      expect(response.status, id).toBe(200);
      expect(response.headers.get('content-type')).toContain('text/html');
      expect(response.headers.get('cache-control')).toBe('no-cache');
      // A page, not data: helmet's policy lets it load its own script and style.
      expect(response.headers.get('content-security-policy')).toContain("script-src 'self'");
      const html = await response.text();
      const scripts = [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/g)];
      expect(scripts.map(([, attributes]) => attributes!.match(/src="(\/assets\/[^"]+)"/)?.[1])).toHaveLength(
        1,
      );
      for (const [, attributes, body] of scripts) {
        expect(attributes).toMatch(/\bsrc="\/assets\/drop-/);
        expect(body!.trim()).toBe('');
      }
      expect(html).not.toMatch(/\son[a-z]+="/);
      expect(html).toContain('Join the line');
      expect(html).not.toBe(index);
    }
    const no_id = await apiClient(server.url).get('/drops/');
    expect(no_id.status).toBe(404);
    expect(no_id.body.error.code).toBe('not_found');
  });

  it('answers 404 not_found for an asset that does not exist, and refuses paths outside the build', async () => {
    const api = apiClient(server.url);
    const missing = await api.get('/assets/nothing-here.js');
    expect(missing.status).toBe(404);
    expect(missing.body.error.code).toBe('not_found');
    const outside = await api.get('/assets/..%2f..%2fpackage.json');
    expect(outside.status).toBeGreaterThanOrEqual(400);
    expect(outside.status).toBeLessThan(500);
    expect(JSON.stringify(outside.body)).not.toContain('"dependencies"');
  });

  it('counts refused checkouts in GET /v1/stats, not accepted ones', async () => {
    const api = apiClient(server.url);
    const before = (await api.get('/v1/stats')).body;
    expect((await api.post('/v1/skus', { sku: 'stats-1', available: 1 })).status).toBe(201);
    const line = { sku: 'stats-1', quantity: 1 };
    expect((await api.post('/v1/orders', { customer_id: 'a', lines: [line] })).status).toBe(201);
    expect((await api.post('/v1/orders', { customer_id: 'b', lines: [line] })).status).toBe(409);
    expect((await api.post('/v1/orders', { customer_id: 'c', lines: [line] })).status).toBe(409);
    const after = (await api.get('/v1/stats')).body;
    expect(after.checkouts_refused - before.checkouts_refused).toBe(2);
    expect(after.checkouts_shed).toBe(before.checkouts_shed);
    expect(after.since).toBe(before.since);
  });
});

describe('GET / before the dashboard is built', () => {
  it('answers 503 at / and /drops/{id} with a page that says to run npm run build:dashboard', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'stockhold-no-dashboard-'));
    const app = Fastify();
    try {
      await dashboardPlugin(empty)(app);
      for (const url of ['/', '/drops/console-1212']) {
        const response = await app.inject({ method: 'GET', url });
        expect(response.statusCode, url).toBe(503);
        expect(response.headers['content-type']).toContain('text/html');
        expect(response.body).toContain('npm run build:dashboard');
      }
    } finally {
      await app.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });
});

describe('closing the server', () => {
  it('ends open event streams instead of waiting for their clients', async () => {
    const server = await startTestServer();
    const response = await fetch(`${server.url}/v1/events`);
    const reader = response.body!.getReader();
    const ended = (async () => {
      for (;;) if ((await reader.read()).done) return 'ended';
    })();
    await server.dispose();
    expect(await ended).toBe('ended');
  });
});

describe('the dashboard event-stream parser', () => {
  it('parses frames split anywhere across chunks, with CRLF, comments and multi-line data', () => {
    const text =
      'retry: 2000\n\n: keep-alive\n\nid: 7\r\nevent: order.held\r\ndata: {"a":1}\r\n\r\n' +
      'id: 8\nevent: sku.adjusted\ndata: line one\ndata: line two\n\ndata: no id\n\n';
    const whole = new SseParser().push(text);
    expect(whole).toEqual([
      { id: '7', event: 'order.held', data: '{"a":1}' },
      { id: '8', event: 'sku.adjusted', data: 'line one\nline two' },
      { id: '8', event: 'message', data: 'no id' },
    ]);
    for (let split = 1; split < text.length; split++) {
      const parser = new SseParser();
      expect([...parser.push(text.slice(0, split)), ...parser.push(text.slice(split))]).toEqual(whole);
    }
  });
});
