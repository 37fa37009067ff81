// The OpenAPI document is one a generated client can use as it is: the bearer scheme and each
// operation's scopes, every status it can answer with its codes and examples, the headers, the
// real media types, bounds on every input, and examples that match their own schemas.
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AccessRule } from '../../src/http/access.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { type OpenApiDocument, schemaValidators } from './openapi-support.ts';

const routes = new Map<string, AccessRule>();
async function collectRoutes(app: FastifyInstance) {
  app.addHook('onRoute', (route) => {
    // /v1/skus/:sku -> /v1/skus/{sku}, as the document writes paths.
    const path = route.url.replace(/:(\w+)/g, '{$1}');
    for (const method of [route.method].flat()) {
      if (method !== 'HEAD' && route.config?.access) routes.set(`${method} ${path}`, route.config.access);
    }
  });
}

let server: TestServer;
let document: OpenApiDocument;
let validatorOf: ReturnType<typeof schemaValidators>;

/** Every operation of the document as [`METHOD /path`, operation]. */
function operations(): [string, any][] {
  return Object.entries(document.paths).flatMap(([path, item]) =>
    Object.entries(item).map(([method, operation]): [string, any] => [
      `${method.toUpperCase()} ${path}`,
      operation,
    ]),
  );
}

function codesOf(response: any): string[] {
  return response.content['application/json'].schema.properties.error.properties.code.enum;
}

/** Every schema a request takes (parameters and body), each with where it is. */
function requestSchemas(): [string, any][] {
  const found: [string, any][] = [];
  const walk = (where: string, schema: any) => {
    if (!schema || typeof schema !== 'object') return;
    found.push([where, schema]);
    for (const [key, property] of Object.entries(schema.properties ?? {})) walk(`${where}/${key}`, property);
    if (schema.items) walk(`${where}/items`, schema.items);
    for (const branch of schema.anyOf ?? []) walk(where, branch);
  };
  for (const [name, operation] of operations()) {
    for (const parameter of operation.parameters ?? [])
      walk(`${name} ${parameter.in} ${parameter.name}`, parameter.schema);
    walk(`${name} body`, operation.requestBody?.content?.['application/json']?.schema);
  }
  return found;
}

beforeAll(async () => {
  server = await startTestServer({ plugins: [collectRoutes] });
  document = (await (await fetch(`${server.url}/openapi.json`)).json()) as OpenApiDocument;
  validatorOf = schemaValidators(document);
});
afterAll(() => server?.dispose());

describe('the OpenAPI document', () => {
  it('documents every route the server declares, /metrics and /openapi.json included', () => {
    const documented = operations().map(([name]) => name);
    // The routes registered after the test's plugin; those before it (metrics, webhooks) are named.
    const declared = [...routes.keys()].filter((name) => !name.includes(' /docs'));
    expect(declared.length).toBeGreaterThan(10);
    expect(documented).toEqual(expect.arrayContaining(declared));
    expect(documented).toEqual(
      expect.arrayContaining(['GET /metrics', 'GET /openapi.json', 'GET /v1/events']),
    );
  });

  it('declares the bearer scheme, and per operation the scopes its access rule lets in', () => {
    expect(document.components).toMatchObject({
      securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    });
    for (const [name, operation] of operations()) {
      const rule = routes.get(name);
      if (rule === undefined) continue;
      const expected =
        rule === 'public'
          ? []
          : ['admin', ...rule.scopes.filter((scope) => scope !== 'admin')].map((scope) => ({
              bearer: [scope],
            }));
      expect(operation.security, name).toEqual(expected);
    }
    expect(document.paths['/v1/orders']!.post.security).toEqual([
      { bearer: ['admin'] },
      { bearer: ['checkout'] },
    ]);
    expect(document.paths['/v1/skus']!.post.security).toEqual([{ bearer: ['admin'] }]);
    expect(document.paths['/healthz']!.get.security).toEqual([]);
    expect(document.paths['/v1/webhooks']!.post.security).toEqual([{ bearer: ['admin'] }]);
    expect(document.paths['/metrics']!.get.security).toEqual([{ bearer: ['admin'] }, { bearer: ['read'] }]);
  });

  it('lists every status each operation can answer, each with a description of its own', () => {
    for (const [name, operation] of operations()) {
      const statuses = Object.keys(operation.responses);
      expect(statuses, name).toEqual(expect.arrayContaining(['403', '429', '500', '503']));
      if (operation.security.length > 0) expect(statuses, name).toContain('401');
      if (name.startsWith('POST') || name.startsWith('DELETE')) {
        expect(statuses, name).toEqual(expect.arrayContaining(['400', '413', '415']));
      }
      const idempotent = (operation.parameters ?? []).some(
        (parameter: any) => parameter.name === 'idempotency-key',
      );
      if (idempotent) {
        expect(codesOf(operation.responses['409']), name).toContain('idempotency_key_in_use');
        expect(codesOf(operation.responses['422']), name).toEqual(['idempotency_key_reused']);
        const success = statuses.find((status) => status.startsWith('2'))!;
        expect(Object.keys(operation.responses[success].headers), name).toContain('idempotent-replayed');
      }
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        expect(response.description, `${name} ${status}`).not.toBe('Default Response');
        expect(response.description.length, `${name} ${status}`).toBeGreaterThan(3);
      }
    }
    const checkout = document.paths['/v1/orders']!.post.responses;
    expect(codesOf(checkout['404'])).toEqual(['sku_not_found']);
    expect(codesOf(checkout['409'])).toEqual(
      expect.arrayContaining(['insufficient_stock', 'limit_exceeded', 'idempotency_key_in_use']),
    );
    expect(codesOf(document.paths['/v1/orders/{id}']!.get.responses['404'])).toEqual(['order_not_found']);
    expect(codesOf(document.paths['/v1/skus/{sku}']!.get.responses['404'])).toEqual(['sku_not_found']);
    expect(codesOf(document.paths['/readyz']!.get.responses['503'])).toContain('not_ready');
  });

  it('gives each error status the examples of its own codes, with Retry-After on 429 and 503', () => {
    for (const [name, operation] of operations()) {
      for (const [status, response] of Object.entries<any>(operation.responses)) {
        if (Number(status) < 400) continue;
        const media = response.content['application/json'];
        const codes = codesOf(response);
        expect(Object.keys(media.examples).sort(), `${name} ${status}`).toEqual([...codes].sort());
        for (const [code, example] of Object.entries<any>(media.examples)) {
          expect(example.value.error.code, `${name} ${status}`).toBe(code);
          const validate = validatorOf(media.schema);
          expect(
            validate(example.value),
            `${name} ${status} ${code}: ${JSON.stringify(validate.errors)}`,
          ).toBe(true);
        }
        if (status === '400') expect(codes, name).toEqual(['invalid_request']);
        if (status === '429' || status === '503') {
          expect(Object.keys(response.headers), `${name} ${status}`).toEqual(['retry-after']);
        }
        if (status === '503') expect(codes, name).toContain('storage_unavailable');
      }
    }
    expect(codesOf(document.paths['/v1/orders']!.post.responses['503'])).toEqual(
      expect.arrayContaining(['storage_unavailable', 'overloaded']),
    );
  });

  it('has realistic examples, each valid against its own schema', () => {
    const checkout = document.paths['/v1/orders']!.post;
    const body = checkout.requestBody.content['application/json'];
    expect(body.example).toEqual({
      customer_id: 'cust-1',
      lines: [{ sku: 'sneaker-42', quantity: 2 }],
      hold_seconds: 900,
    });
    const created = checkout.responses['201'].content['application/json'];
    expect(created.example.lines[0].quantity).toBeGreaterThan(0);
    expect(created.example.status).toBe('pending_payment');
    // Every example in the document: request bodies, answers, parameters and inside schemas.
    let checked = 0;
    const check = (where: string, schema: any, value: unknown) => {
      const validate = validatorOf(schema);
      expect(validate(value), `${where}: ${JSON.stringify(validate.errors)}`).toBe(true);
      checked += 1;
    };
    for (const [name, operation] of operations()) {
      const media = [
        ...Object.values<any>(operation.requestBody?.content ?? {}),
        ...Object.values<any>(operation.responses).flatMap((response) =>
          Object.values<any>(response.content ?? {}),
        ),
      ];
      for (const item of media) {
        if (item.example !== undefined) check(`${name} example`, item.schema, item.example);
      }
      for (const parameter of operation.parameters ?? []) {
        if (parameter.example !== undefined)
          check(`${name} ${parameter.name}`, parameter.schema, parameter.example);
      }
    }
    for (const [where, schema] of requestSchemas()) {
      for (const example of schema.examples ?? []) check(where, schema, example);
    }
    expect(checked).toBeGreaterThan(15);
  });

  it('documents the event stream as text/event-stream, which is what it answers', async () => {
    const stream = document.paths['/v1/events']!.get.responses['200'];
    expect(Object.keys(stream.content)).toEqual(['text/event-stream']);
    const abort = new AbortController();
    const answer = await fetch(`${server.url}/v1/events`, { signal: abort.signal });
    expect(answer.headers.get('content-type')).toMatch(/^text\/event-stream/);
    abort.abort();
    await answer.body?.cancel().catch(() => {});
  });

  it('documents /metrics as text, which is what it answers', async () => {
    const metrics = document.paths['/metrics']!.get.responses['200'];
    expect(Object.keys(metrics.content)).toEqual(['text/plain']);
    const answer = await fetch(`${server.url}/metrics`);
    expect(answer.headers.get('content-type')).toMatch(/^text\/plain/);
    await answer.text();
  });

  it('is served at /openapi.json, which /docs reads and shows', async () => {
    const initializer = await (await fetch(`${server.url}/docs/static/swagger-initializer.js`)).text();
    expect(initializer).toContain('"/openapi.json"');
    expect(document.openapi).toBe('3.1.0');
  });

  it('bounds every integer a request takes within what the stores hold', () => {
    const integers = requestSchemas().filter(([, schema]) => schema.type === 'integer');
    expect(integers.length).toBeGreaterThan(10);
    for (const [where, schema] of integers) {
      expect(schema.minimum, where).toBeGreaterThanOrEqual(-Number.MAX_SAFE_INTEGER);
      expect(schema.maximum, where).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    }
  });

  it('bounds every string a request takes, and none accepts a lone surrogate or NUL', () => {
    const strings = requestSchemas().filter(([, schema]) => schema.type === 'string');
    expect(strings.length).toBeGreaterThan(15);
    const unbounded: string[] = [];
    const storable: string[] = [];
    for (const [where, schema] of strings) {
      if (schema.enum) continue;
      if (!(schema.maxLength <= 2048)) unbounded.push(where);
      // Ajv compiles patterns with the u flag, as does any JSON Schema 2020-12 validator.
      const pattern = new RegExp(schema.pattern ?? '', 'u');
      for (const bad of ['a\ud800', '\udc00b', 'a\u0000b']) {
        if (pattern.test(bad)) storable.push(`${where} takes ${JSON.stringify(bad)}`);
      }
    }
    expect(unbounded).toEqual([]);
    expect(storable).toEqual([]);
    const url =
      document.paths['/v1/webhooks']!.post.requestBody.content['application/json'].schema.properties.url;
    expect(url.format).toBe('uri');
    const pattern = new RegExp(url.pattern, 'u');
    expect(pattern.test('https://shop.example/hooks/stock')).toBe(true);
    expect(pattern.test('HTTP://shop.example/')).toBe(true);
    expect(pattern.test('ftp://shop.example/')).toBe(false);
    expect(pattern.test('shop.example/hook')).toBe(false);
  });

  it('documents the Idempotency-Key header on every mutating POST', () => {
    for (const [name, operation] of operations()) {
      // Webhook endpoints take no key; a drop's ticket is one per customer, so asking again is a replay.
      if (!name.startsWith('POST') || name.startsWith('POST /v1/webhooks') || name.endsWith('/tickets'))
        continue;
      const header = (operation.parameters ?? []).find(
        (parameter: any) => parameter.name === 'idempotency-key',
      );
      expect(header, name).toMatchObject({ in: 'header', schema: { maxLength: 255 } });
    }
  });
});
