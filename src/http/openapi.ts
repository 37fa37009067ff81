// The OpenAPI document a generated client can use as it is: routes declare their own schemas and
// domain error codes; this adds what every route shares (the bearer scheme and its scopes, the
// answers of access control, rate limits, body parsing, idempotency and storage) from the route's
// access rule and inputs, so no route can forget one.
import type {
  FastifyDynamicSwaggerOptions,
  SwaggerTransform,
  SwaggerTransformObject,
} from '@fastify/swagger';
import type { FastifySchema, RouteOptions } from 'fastify';
import { ERROR_STATUS, type ErrorCode } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import type { AccessRule } from './access.ts';
import { errorSchema, NO_BODY_DESCRIPTION } from './schemas.ts';

export const SECURITY_SCHEME = 'bearer';

export const OPENAPI_INFO = {
  title: 'stockhold',
  version: '1',
  description:
    'Inventory reservations that never oversell: checkout holds stock (available -> on_hold) until a payment ' +
    'deadline; payment sells it (on_hold -> sold); cancel and expiry return it.\n\n' +
    'Send an API key as `Authorization: Bearer <key>` (create one with `npx stockhold keys create`). Each ' +
    'operation lists the scopes that may call it; an `admin` key may call every operation. A server on ' +
    'loopback with no key at all runs open. Errors are always `{"error": {"code", "message", "details"?}}` ' +
    'with a stable `code`; 429 and 503 answers carry `Retry-After`.',
};

/** Codes any route can answer: the access check (403 also guards an open server's host names), the
 * per-key rate limit, a bug, and a database that went away. */
const EVERY_ROUTE: readonly ErrorCode[] = [
  'forbidden',
  'rate_limited',
  'internal_error',
  'storage_unavailable',
];
/** Fastify parses a body for every method but GET and HEAD. */
const BODY_CODES: readonly ErrorCode[] = ['invalid_request', 'payload_too_large', 'unsupported_media_type'];
const IDEMPOTENCY_CODES: readonly ErrorCode[] = ['idempotency_key_in_use', 'idempotency_key_reused'];

const RETRY_AFTER = {
  'retry-after': {
    type: 'integer',
    minimum: 1,
    maximum: 3600,
    description: 'seconds to wait before retrying',
  },
};
const IDEMPOTENT_REPLAYED = {
  'idempotent-replayed': {
    type: 'string',
    enum: ['true'],
    description: 'present when this is the stored answer of an earlier request with the same Idempotency-Key',
  },
};

type Schema = FastifySchema & Record<string, unknown>;
type ResponseSchema = Record<string, unknown> & { headers?: Record<string, unknown> };

/** The scopes that may call under an access rule, admin first; none for a public route. */
function scopesOf(access: AccessRule | undefined): string[] {
  if (access === undefined || access === 'public') return [];
  return ['admin', ...access.scopes.filter((scope) => scope !== 'admin')];
}

/** The security requirements of an access rule: alternatives, one per scope that may call. */
export function securityOf(access: AccessRule | undefined): Record<string, string[]>[] {
  return scopesOf(access).map((scope) => ({ [SECURITY_SCHEME]: [scope] }));
}

function declaredCodes(response: ResponseSchema): ErrorCode[] {
  const error = (response.properties as Record<string, ResponseSchema> | undefined)?.error;
  const code = (error?.properties as Record<string, { enum?: ErrorCode[] }> | undefined)?.code;
  return code?.enum ?? [];
}

/** The statuses and error codes a route can answer, from its declared codes, access rule and inputs. */
export function errorCodesOf(route: RouteOptions, schema: Schema): Set<ErrorCode> {
  const codes = new Set<ErrorCode>(EVERY_ROUTE);
  const response = (schema.response ?? {}) as Record<string, ResponseSchema>;
  for (const [status, answer] of Object.entries(response)) {
    if (Number(status) >= 400) for (const code of declaredCodes(answer)) codes.add(code);
  }
  if (route.config?.access !== 'public') codes.add('unauthorized');
  const methods = [route.method].flat();
  if (methods.some((method) => method !== 'GET' && method !== 'HEAD')) {
    for (const code of BODY_CODES) codes.add(code);
  }
  if (schema.params || schema.querystring || schema.headers || schema.body) codes.add('invalid_request');
  const headers = schema.headers as { properties?: Record<string, unknown> } | undefined;
  if (headers?.properties?.['idempotency-key']) for (const code of IDEMPOTENCY_CODES) codes.add(code);
  return codes;
}

/** `transform` of @fastify/swagger: one route's documented schema (the route itself is untouched). */
export const documentRoute: SwaggerTransform = ({ schema, url, route }) => {
  const source = schema as Schema | undefined;
  if (!source || source.hide) return { schema, url };
  const response: Record<string, ResponseSchema> = {};
  const idempotent = IDEMPOTENCY_CODES.some((code) => errorCodesOf(route, source).has(code));
  for (const [status, answer] of Object.entries((source.response ?? {}) as Record<string, ResponseSchema>)) {
    if (Number(status) >= 400) continue;
    response[status] = idempotent
      ? { ...answer, headers: { ...answer.headers, ...IDEMPOTENT_REPLAYED } }
      : answer;
  }
  const by_status = new Map<number, ErrorCode[]>();
  for (const code of errorCodesOf(route, source)) {
    const status = ERROR_STATUS[code];
    by_status.set(status, [...(by_status.get(status) ?? []), code]);
  }
  for (const [status, codes] of [...by_status].sort(([a], [b]) => a - b)) {
    const answer: ResponseSchema = { ...errorSchema(codes) };
    if (status === 429 || status === 503) answer.headers = RETRY_AFTER;
    // A stored refusal is replayed like a success.
    else if (idempotent && (status === 404 || status === 409)) answer.headers = IDEMPOTENT_REPLAYED;
    response[status] = answer;
  }
  const scopes = scopesOf(route.config?.access);
  const who = scopes.length === 0 ? 'No API key needed.' : `Scopes: ${scopes.join(', ')}.`;
  return {
    schema: {
      ...source,
      description: [source.description, who].filter(Boolean).join('\n\n'),
      response,
      security: securityOf(route.config?.access),
    },
    url,
  };
};

interface Operation {
  requestBody?: { required?: boolean; content?: Record<string, { schema?: { description?: string } }> };
}

/** `transformObject`: a body that may be absent is not required (the generator sets it always). */
export const finishDocument: SwaggerTransformObject = (document) => {
  const openapi = (document as { openapiObject: { paths?: Record<string, Record<string, Operation>> } })
    .openapiObject;
  for (const path of Object.values(openapi.paths ?? {})) {
    for (const operation of Object.values(path)) {
      const body = operation.requestBody;
      if (body?.content?.['application/json']?.schema?.description === NO_BODY_DESCRIPTION)
        body.required = false;
    }
  }
  return openapi;
};

export const SWAGGER_OPTIONS = {
  openapi: {
    openapi: '3.1.0',
    info: OPENAPI_INFO,
    tags: [
      { name: 'skus', description: 'SKUs and their buckets: available, on_hold, sold' },
      { name: 'orders', description: 'Checkout, payment, cancel; an order holds stock until its deadline' },
      { name: 'events', description: 'The live event stream' },
      { name: 'webhooks', description: 'Signed event deliveries to your endpoints (admin)' },
      { name: 'operations', description: 'Health, readiness, metrics and this document' },
    ],
    components: {
      securitySchemes: {
        [SECURITY_SCHEME]: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An API key (`npx stockhold keys create --scope <admin|checkout|read>`). The scopes an operation lists ' +
            `are alternatives. Bodies are JSON up to ${LIMITS.body_bytes_max / 1024} KiB.`,
        },
      },
    },
  },
  transform: documentRoute,
  transformObject: finishDocument,
  // Shared schemas are named by their $id (Sku, Order), which generated clients turn into type names.
  refResolver: {
    buildLocalReference: (json: { $id?: unknown }, _base: unknown, _fragment: string, index: number) =>
      typeof json.$id === 'string' ? json.$id : `def-${index}`,
  },
} satisfies FastifyDynamicSwaggerOptions;
