// A validating fuzzer over the OpenAPI document: requests are generated from the document's own
// schemas (valid ones, and ones broken in exactly one place), sent with fast-check to the real server
// on SQLite and on PostgreSQL, and every answer is checked against the document: a status the
// operation lists, a media type it lists for that status, a body that matches that schema (so an
// error code the status lists). The document also predicts the status class: a request it calls
// invalid is 400 once the key may call the operation, one it calls valid is never 400.
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envCount, reportFigure } from '../reliability/support.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';
import { type OpenApiDocument, schemaValidators } from './openapi-support.ts';

const RUNS = envCount('STOCKHOLD_OPENAPI_FUZZ_RUNS', 300);
const SEED = process.env.STOCKHOLD_OPENAPI_FUZZ_SEED;

const KEYS = { admin: 'A'.repeat(40), read: 'R'.repeat(40), checkout: 'C'.repeat(40) } as const;
type Caller = keyof typeof KEYS | 'none';

/** A JSON schema as the document holds it (only what generation reads). */
interface Schema {
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  anyOf?: Schema[];
  not?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: Schema;
  minItems?: number;
  maxItems?: number;
  uniqueItems?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  format?: string;
  $ref?: string;
}

interface Parameter {
  in: 'path' | 'query' | 'header';
  name: string;
  required?: boolean;
  schema: Schema;
}

interface Operation {
  method: string;
  path: string;
  parameters: Parameter[];
  body: Schema | null;
  body_required: boolean;
  security: Record<string, string[]>[];
  responses: Record<string, { content?: Record<string, { schema: Schema }>; headers?: object }>;
}

interface Request {
  /** `METHOD /path` of the operation, its key in by_key (so counterexamples stay short). */
  operation: string;
  caller: Caller;
  /** Which part was broken on purpose, or null for a request the document calls valid. */
  broken: string | null;
  path: Record<string, string>;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: unknown;
}

const LONE_SURROGATE = '\ud800';
/** A value the query string or the path cannot carry as text: an encoded lone surrogate. */
const ENCODED_SURROGATE = '%ED%A0%80';

/** Ids that exist, so valid requests reach the deep paths (set up before the run). */
const known = { sku: ['fz', 'fz2'], order: [] as string[], endpoint: [] as string[] };

// ---------------------------------------------------------------------------------------------
// Arbitraries from schemas.

/** Lengths as JSON Schema counts them: in code points (an emoji pair is one). */
function withinLength(text: string, schema: Schema): boolean {
  const length = [...text].length;
  return length >= (schema.minLength ?? 0) && length <= (schema.maxLength ?? Number.POSITIVE_INFINITY);
}

function validString(schema: Schema): fc.Arbitrary<string> {
  const min = schema.minLength ?? 0;
  // Long enough to reach the bound sometimes, short enough to keep requests small.
  const max = Math.min(schema.maxLength ?? 40, Math.max(min, 40));
  if (schema.format === 'uri') {
    return fc
      .webUrl({ validSchemes: ['http', 'https'] })
      .filter((url) => withinLength(url, schema) && new RegExp(schema.pattern ?? '', 'u').test(url));
  }
  if (schema.pattern?.startsWith('^[^')) {
    // Free text: any well-formed characters (graphemes, emoji pairs included) but NUL.
    return fc
      .string({ unit: 'grapheme', minLength: min, maxLength: max })
      .map((text) => text.replaceAll('\u0000', ' '))
      .filter((text) => withinLength(text, schema));
  }
  if (schema.pattern) {
    const pattern = new RegExp(schema.pattern, 'u');
    return fc.stringMatching(pattern).filter((text) => withinLength(text, schema));
  }
  return fc.string({ minLength: min, maxLength: max });
}

function validInteger(schema: Schema): fc.Arbitrary<number> {
  const min = schema.minimum ?? -1_000_000;
  const max = schema.maximum ?? 1_000_000;
  const small = fc.integer({ min: Math.max(min, -1000), max: Math.min(max, 1000) });
  const anywhere = fc.bigInt({ min: BigInt(min), max: BigInt(max) }).map(Number);
  const value = fc.oneof(small, small, fc.constantFrom(min, max), anywhere);
  const refused = schema.not?.const;
  return refused === undefined ? value : value.filter((number) => number !== refused);
}

function valid(schema: Schema, name = ''): fc.Arbitrary<unknown> {
  const refused = schema.not?.enum;
  if (refused) return valid({ ...schema, not: undefined }, name).filter((value) => !refused.includes(value));
  if (schema.enum) return fc.constantFrom(...schema.enum);
  if (schema.const !== undefined) return fc.constant(schema.const);
  if (schema.anyOf) return fc.oneof(...schema.anyOf.map((branch) => valid(branch, name)));
  if (name === 'sku' && schema.pattern) return fc.oneof(fc.constantFrom(...known.sku), validString(schema));
  if (schema.format === 'date-time') {
    // A drop's times: the start near now (the API refuses one more than a year ahead) and the end
    // after any start drawn, since an end before the start is the one thing the schema cannot say.
    const day_ms = 24 * 3600 * 1000;
    const [from_ms, to_ms] = name === 'ends_at' ? [2 * day_ms, 30 * day_ms] : [-day_ms, day_ms];
    return fc
      .integer({ min: from_ms, max: to_ms })
      .map((offset) => new Date(Date.now() + offset).toISOString());
  }
  switch (Array.isArray(schema.type) ? schema.type[0] : schema.type) {
    case 'integer':
      return validInteger(schema);
    case 'string':
      return validString(schema);
    case 'boolean':
      return fc.boolean();
    case 'null':
      return fc.constant(null);
    case 'array': {
      const options = { minLength: schema.minItems ?? 0, maxLength: Math.min(schema.maxItems ?? 5, 5) };
      const item = valid(schema.items ?? {});
      return schema.uniqueItems ? fc.uniqueArray(item, options) : fc.array(item, options);
    }
    default: {
      // An object, or the no-body schema (no type): {} then.
      const properties = Object.entries(schema.properties ?? {});
      const record: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [key, property] of properties) record[key] = valid(property, key);
      return fc.record(record, { requiredKeys: schema.required ?? [] });
    }
  }
}

/** A value `schema` refuses, of a kind that the validator must catch (not a near miss it may allow). */
function invalid(schema: Schema): fc.Arbitrary<unknown> {
  if (schema.enum) return fc.constantFrom('bogus', 'PAID', '');
  if (schema.anyOf) return fc.constantFrom({ not: 'this' }, [1, 2]);
  switch (Array.isArray(schema.type) ? schema.type[0] : schema.type) {
    case 'integer': {
      const out: unknown[] = [1.5, '7', true, 2 ** 63, 9_007_199_254_740_992];
      if (schema.minimum !== undefined) out.push(schema.minimum - 1);
      if (schema.maximum !== undefined) out.push(schema.maximum + 1);
      return fc.constantFrom(...out);
    }
    case 'string': {
      const out: unknown[] = [42, null, [], `a${LONE_SURROGATE}b`, `\udc00`];
      if (schema.maxLength !== undefined) out.push('x'.repeat(schema.maxLength + 1));
      if ((schema.minLength ?? 0) > 0) out.push('');
      return fc.constantFrom(...out);
    }
    case 'array': {
      const out: fc.Arbitrary<unknown>[] = [fc.constant('not an array')];
      if (schema.minItems) out.push(fc.constant([]));
      if (schema.items) out.push(invalid(schema.items).map((item) => [item]));
      return fc.oneof(...out);
    }
    default: {
      const properties = Object.entries(schema.properties ?? {});
      const base = valid(schema) as fc.Arbitrary<Record<string, unknown>>;
      const out: fc.Arbitrary<unknown>[] = [
        fc.constant([]),
        base.map((value) => ({ ...value, unknown_field: 1 })),
      ];
      if (properties.length > 0) {
        out.push(
          fc
            .tuple(base, fc.constantFrom(...properties))
            .chain(([value, [key, property]]) => invalid(property).map((bad) => ({ ...value, [key]: bad }))),
        );
      }
      for (const key of schema.required ?? []) {
        out.push(
          base.map((value) => {
            const { [key]: _dropped, ...rest } = value;
            return rest;
          }),
        );
      }
      return fc.oneof(...out);
    }
  }
}

/** Text for a path or query value: what cannot be sent as text (a lone surrogate) goes encoded. */
function asText(value: unknown): string {
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return /[\uD800-\uDFFF]/u.test(text.replace(/[\uD800-\uDBFF][\uDC00-\uDFFF]/g, ''))
    ? ENCODED_SURROGATE
    : encodeURIComponent(text);
}

function pathValue(operation: Operation, parameter: Parameter): fc.Arbitrary<string> {
  const ids = operation.path.startsWith('/v1/orders')
    ? known.order
    : operation.path.startsWith('/v1/webhooks')
      ? known.endpoint
      : known.sku;
  const generated = valid(parameter.schema).map(asText);
  return ids.length > 0 ? fc.oneof(fc.constantFrom(...ids), generated) : generated;
}

function requestOf(operation: Operation): fc.Arbitrary<Request> {
  const path: Record<string, fc.Arbitrary<string>> = {};
  const query: Record<string, fc.Arbitrary<string>> = {};
  const breakable: { part: string; arbitrary: fc.Arbitrary<[string, string]> }[] = [];
  for (const parameter of operation.parameters) {
    if (parameter.in === 'path') {
      path[parameter.name] = pathValue(operation, parameter);
      breakable.push({
        part: `path ${parameter.name}`,
        arbitrary: invalid(parameter.schema)
          .filter((value) => typeof value === 'string' && value !== '')
          .map((value) => [parameter.name, asText(value)]),
      });
    } else if (parameter.in === 'query' && parameter.name !== 'cursor') {
      // A cursor is only valid as the server gave it out: generated ones are refused by design.
      query[parameter.name] = valid(parameter.schema).map((value) => String(value));
      breakable.push({
        part: `query ${parameter.name}`,
        arbitrary: invalid(parameter.schema)
          // Text is all a query string carries: keep the values that are refused as text too (not
          // 42 for a string, which reads as the text "42", nor "7" for an integer).
          .filter((value) =>
            parameter.schema.type === 'integer' ? typeof value === 'number' : typeof value === 'string',
          )
          .map((value) => [parameter.name, asText(value)]),
      });
    }
  }
  // Unknown fields are refused everywhere, query strings of the API included.
  if (operation.path.startsWith('/v1/')) {
    breakable.push({ part: 'query unknown_field', arbitrary: fc.constant(['unknown_field', '1']) });
  }
  const idempotent = operation.parameters.some((parameter) => parameter.name === 'idempotency-key');
  const body_schema = operation.body;
  return fc
    .record({
      caller: fc.constantFrom<Caller>(
        'admin',
        'admin',
        'admin',
        'admin',
        'admin',
        'admin',
        'read',
        'checkout',
        'none',
      ),
      path: fc.record(path),
      query: fc.record(query, { requiredKeys: [] }),
      // A few keys, so replays, reuse with another body and in-use answers all happen.
      key: idempotent
        ? fc.option(fc.constantFrom('key-1', 'key-2', 'key-3'), { nil: undefined })
        : fc.constant(undefined),
      body: body_schema ? valid(body_schema) : fc.constant(undefined),
      break_at: fc.option(fc.nat({ max: breakable.length + (body_schema ? 2 : 0) }), {
        freq: 2,
        nil: undefined,
      }),
    })
    .chain((base) => {
      const request: Request = {
        operation: `${operation.method} ${operation.path}`,
        caller: base.caller,
        broken: null,
        path: base.path,
        query: base.query as Record<string, string>,
        headers: base.key === undefined ? {} : { 'idempotency-key': base.key },
        body: base.body,
      };
      if (base.break_at === undefined) return fc.constant(request);
      const target = breakable[base.break_at];
      if (target) {
        return target.arbitrary.map(([name, text]) => ({
          ...request,
          broken: target.part,
          path: target.part.startsWith('path') ? { ...request.path, [name]: text } : request.path,
          query: target.part.startsWith('query') ? { ...request.query, [name]: text } : request.query,
        }));
      }
      if (!body_schema) return fc.constant(request);
      return invalid(body_schema).map((body) => ({ ...request, broken: 'body', body }));
    });
}

// ---------------------------------------------------------------------------------------------
// The document, read as a client would.

function operationsOf(document: OpenApiDocument): Operation[] {
  const operations: Operation[] = [];
  for (const [path, item] of Object.entries(document.paths)) {
    for (const [method, operation] of Object.entries(item)) {
      operations.push({
        method: method.toUpperCase(),
        path,
        parameters: operation.parameters ?? [],
        body: operation.requestBody?.content?.['application/json']?.schema ?? null,
        body_required: operation.requestBody?.required === true,
        security: operation.security ?? [],
        responses: operation.responses,
      });
    }
  }
  return operations;
}

/** Operations by `METHOD /path`. */
const by_key = new Map<string, Operation>();

function urlOf(request: Request): string {
  let url = by_key.get(request.operation)!.path;
  for (const [name, value] of Object.entries(request.path)) url = url.replace(`{${name}}`, value);
  const query = Object.entries(request.query).map(
    ([name, value]) => `${name}=${/%[0-9A-F]{2}/.test(value) ? value : encodeURIComponent(value)}`,
  );
  return query.length > 0 ? `${url}?${query.join('&')}` : url;
}

function mayCall(operation: Operation, caller: Caller): boolean {
  if (operation.security.length === 0) return true;
  if (caller === 'none') return false;
  return operation.security.some((requirement) => Object.values(requirement).flat().includes(caller));
}

// ---------------------------------------------------------------------------------------------

describe.each(DIALECTS)('the OpenAPI document against the server on %s', (dialect) => {
  let server: TestServer;
  let database: TestDatabase | null = null;
  let document: OpenApiDocument;

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    server = await startTestServer({
      ...(database ? { database_url: database.url } : {}),
      env: {
        STOCKHOLD_API_KEYS: Object.entries(KEYS)
          .map(([scope, key]) => `${scope}:${key}`)
          .join(','),
        WEBHOOKS_WORKER: 'off',
      },
      // Generated webhook urls are made-up hosts: registration must not resolve them.
      check_target: async () => {},
      sweeper: false,
    });
    const admin = { authorization: `Bearer ${KEYS.admin}` };
    const inject = (method: 'POST', url: string, payload: object) =>
      server.app.inject({ method, url, payload, headers: admin });
    await inject('POST', '/v1/skus', { sku: 'fz', available: 1000, max_per_customer: 100 });
    await inject('POST', '/v1/skus', { sku: 'fz2', available: 5 });
    const order = await inject('POST', '/v1/orders', {
      customer_id: 'c',
      lines: [{ sku: 'fz', quantity: 1 }],
    });
    known.order = [order.json().id];
    const endpoint = await inject('POST', '/v1/webhooks', { url: 'https://shop.example/hooks/stock' });
    known.endpoint = [endpoint.json().id];
    document = (await server.app.inject({ method: 'GET', url: '/openapi.json' })).json();
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });

  it('answers generated requests only with documented statuses, media types and bodies', async () => {
    // The event stream never ends: its media type is checked over a socket in openapi.test.ts.
    const operations = operationsOf(document).filter((operation) => operation.path !== '/v1/events');
    for (const operation of operations) by_key.set(`${operation.method} ${operation.path}`, operation);
    expect(operations.length).toBeGreaterThanOrEqual(20);
    const validatorOf = schemaValidators(document);
    const statuses = new Map<number, number>();
    let broken_sent = 0;

    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...operations).chain(requestOf), async (request) => {
        const operation = by_key.get(request.operation)!;
        const has_body = request.body !== undefined;
        const answer = await server.app.inject({
          method: operation.method as 'GET',
          url: urlOf(request),
          headers: {
            ...request.headers,
            ...(request.caller === 'none' ? {} : { authorization: `Bearer ${KEYS[request.caller]}` }),
            ...(has_body ? { 'content-type': 'application/json' } : {}),
          },
          ...(has_body ? { payload: JSON.stringify(request.body) } : {}),
        });
        const where = `${operation.method} ${urlOf(request)} (${request.caller}, broken: ${request.broken}) answered ${answer.statusCode} ${answer.body.slice(0, 300)}`;
        statuses.set(answer.statusCode, (statuses.get(answer.statusCode) ?? 0) + 1);
        if (request.broken) broken_sent += 1;

        const documented = operation.responses[String(answer.statusCode)];
        expect(documented, `${where}: a status the document does not list`).toBeDefined();
        const media_type = String(answer.headers['content-type'] ?? '').split(';')[0]!;
        if (documented!.content) {
          expect(Object.keys(documented!.content), where).toContain(media_type);
          if (media_type === 'application/json') {
            const validate = validatorOf(documented!.content[media_type]!.schema);
            expect(validate(answer.json()), `${where}: ${JSON.stringify(validate.errors)}`).toBe(true);
          }
        } else {
          expect(answer.body, where).toBe('');
        }
        if (answer.statusCode === 429 || (answer.statusCode === 503 && answer.json().error.details)) {
          expect(answer.headers['retry-after'], where).toBeDefined();
        }

        // The document predicts the class of the answer. A path that is not UTF-8 is refused by
        // the router, before any key is looked at.
        if (Object.values(request.path).includes(ENCODED_SURROGATE)) {
          expect(answer.statusCode, where).toBe(400);
        } else if (!mayCall(operation, request.caller)) {
          expect(answer.statusCode, where).toBe(request.caller === 'none' ? 401 : 403);
        } else if (request.broken) {
          expect(answer.statusCode, where).toBe(400);
        } else {
          expect(answer.statusCode, where).not.toBe(400);
        }
      }),
      { numRuns: RUNS, ...(SEED ? { seed: Number(SEED) } : {}) },
    );

    const by_status = Object.fromEntries([...statuses].sort(([a], [b]) => a - b));
    reportFigure(
      `openapi fuzz on ${dialect}`,
      `${RUNS} requests, ${broken_sent} broken on purpose; ${JSON.stringify(by_status)}`,
    );
    // Not vacuous: successes, refusals of broken input and of missing keys all happened.
    const count = (predicate: (status: number) => boolean) =>
      [...statuses].filter(([status]) => predicate(status)).reduce((sum, [, n]) => sum + n, 0);
    expect(count((status) => status >= 200 && status < 300)).toBeGreaterThan(0);
    expect(statuses.get(400) ?? 0).toBeGreaterThan(0);
    expect(statuses.get(401) ?? 0).toBeGreaterThan(0);
    expect(count((status) => status >= 500)).toBe(0);
  });
});
