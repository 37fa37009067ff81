// Builds the HTTP application: validation, the error map, OpenAPI (/openapi.json, /docs) and routes.
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Ajv } from 'ajv';
import addFormatsModule from 'ajv-formats';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyServerOptions,
  LogController,
} from 'fastify';
import { v4 as uuidv4 } from 'uuid';
import { StockholdError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { LazyChildLogger } from '../logger.ts';
import type { AppContext } from './context.ts';
import { errorHandler, sendError } from './errors.ts';
import { SWAGGER_OPTIONS } from './openapi.ts';
import { eventRoutes } from './routes/events.ts';
import { operationRoutes } from './routes/operations.ts';
import { orderRoutes } from './routes/orders.ts';
import { skuRoutes } from './routes/skus.ts';
import { NoQuery } from './schemas.ts';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export interface AppOptions {
  logger: FastifyBaseLogger | false;
  /** Extra plugins (dashboard, metrics, access control) registered before the routes. */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
}

function validators() {
  // Bodies are JSON: a string where a number belongs is an error, never coerced. Query strings and
  // headers are text by nature, so they are coerced to the schema's types.
  // `verbose`: an issue carries the schema that refused it, so messages can name the allowed fields.
  const common = {
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
    verbose: true,
  } as const;
  const body = addFormats(new Ajv({ ...common, coerceTypes: false }));
  const text = addFormats(new Ajv({ ...common, coerceTypes: 'array' }));
  return { body, text };
}

/** The methods each route pattern answers, for the Allow header of a 405. */
class RouteMethods {
  private readonly patterns = new Map<string, { path: RegExp; methods: Set<string> }>();

  add(url: string, methods: string[]): void {
    let entry = this.patterns.get(url);
    if (!entry) {
      // `:name` is one path segment, `*` the rest of the path.
      const source = url
        .split('/')
        .map((segment) =>
          segment.startsWith(':')
            ? '[^/]+'
            : segment === '*'
              ? '.*'
              : segment.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'),
        )
        .join('/');
      entry = { path: new RegExp(`^${source}$`), methods: new Set() };
      this.patterns.set(url, entry);
    }
    for (const method of methods) entry.methods.add(method);
  }

  allowed(path: string): string[] {
    const methods = new Set<string>();
    for (const { path: pattern, methods: answered } of this.patterns.values()) {
      if (pattern.test(path)) for (const method of answered) methods.add(method);
    }
    return [...methods].sort();
  }
}

/**
 * The first query-string field whose name or value is not valid percent-encoded UTF-8 (`%ff`, or
 * `%ED%A0%80`, an encoded lone surrogate), or null. The parser would keep such text undecoded, and
 * the field would silently mean something else than the client sent.
 */
export function undecodableQueryField(url: string): string | null {
  const start = url.indexOf('?');
  if (start === -1 || !url.includes('%', start)) return null;
  for (const pair of url.slice(start + 1).split('&')) {
    const [name = '', value = ''] = pair.split('=', 2);
    try {
      decodeURIComponent(name.replaceAll('+', ' '));
    } catch {
      return name.slice(0, 100);
    }
    try {
      decodeURIComponent(value.replaceAll('+', ' '));
    } catch {
      return decodeURIComponent(name.replaceAll('+', ' ')).slice(0, 100);
    }
  }
  return null;
}

/** Whether arrays and objects in `value` nest deeper than `depth_max` (iterative: no recursion). */
function nestingExceeds(value: unknown, depth_max: number): boolean {
  const pending: [unknown, number][] = [[value, 0]];
  for (let next = pending.pop(); next !== undefined; next = pending.pop()) {
    const [item, depth] = next;
    if (item === null || typeof item !== 'object') continue;
    if (depth >= depth_max) return true;
    for (const child of Object.values(item)) pending.push([child, depth + 1]);
  }
  return false;
}

/** The path of a request URL, without its query string. */
function pathOf(url: string): string {
  const query = url.indexOf('?');
  return query === -1 ? url : url.slice(0, query);
}

/**
 * Fastify's per-request logger, made lazily (src/logger.ts): most requests log nothing. A route with
 * its own level or serializers gets the usual child.
 */
const childLoggerFactory: FastifyServerOptions['childLoggerFactory'] = (logger, bindings, options) => {
  const parent = logger as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
  if (options.level !== undefined || options.serializers !== undefined || !parent.isLevelEnabled) {
    return logger.child(bindings, options);
  }
  // The app's logger is pino (src/logger.ts), which has isLevelEnabled; tests may pass another.
  const pino_logger = parent as unknown as ConstructorParameters<typeof LazyChildLogger>[0];
  return new LazyChildLogger(pino_logger, bindings) as unknown as FastifyBaseLogger;
};

function createFastify(options: AppOptions) {
  return Fastify({
    loggerInstance: options.logger === false ? undefined : options.logger,
    logger: options.logger === false ? false : undefined,
    childLoggerFactory,
    bodyLimit: LIMITS.body_bytes_max,
    requestIdHeader: 'x-request-id',
    genReqId: () => uuidv4(),
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    requestTimeout: 30_000,
    // A slow client has 30 s for its whole request (headers included); headers are capped at
    // Node's 16 KiB (answered 431); idle keep-alive sockets close after Fastify's 72 s.
    routerOptions: { maxParamLength: 200 },
    // A path Fastify's router cannot take (a parameter over 200 characters, broken percent-encoding)
    // is answered in the API's error shape too, not Fastify's own.
    frameworkErrors: (error, request, reply) => {
      const message =
        error.code === 'FST_ERR_BAD_URL'
          ? `the path is not valid percent-encoded UTF-8 (a broken escape or an encoded lone surrogate): ${pathOf(request.url).slice(0, 300)}`
          : error.message;
      sendError(reply, new StockholdError('invalid_request', message));
    },
    // Per-request lines go out at debug level (hook below): at 00:00 info-level access logs would
    // cost more than the checkouts they describe.
    logController: new LogController({ disableRequestLogging: true }),
  } satisfies FastifyServerOptions).withTypeProvider<TypeBoxTypeProvider>();
}

type App = ReturnType<typeof createFastify>;

/**
 * A known path asked with a method it does not answer is 405 with Allow, not "no route" (404) nor
 * a body-parsing refusal (QUERY): checked before parsing, as the first hook. Unknown fields are
 * refused, never ignored (README), query strings included: a /v1 route that declares no query
 * parameters takes none.
 */
function addRouteChecks(app: App): void {
  const route_methods = new RouteMethods();
  app.addHook('onRoute', (route) => route_methods.add(route.url, [route.method].flat()));
  app.addHook('onRoute', (route) => {
    if (!route.url.startsWith('/v1/')) return;
    route.schema = route.schema ?? {};
    route.schema.querystring ??= NoQuery;
  });
  // Callback hooks, not async ones: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    if (!request.is404) return done();
    const path = pathOf(request.url);
    const allowed = route_methods.allowed(path);
    if (allowed.length === 0) return done();
    reply.header('allow', allowed.join(', '));
    done(
      new StockholdError(
        'method_not_allowed',
        `${request.method} is not allowed on ${path}; allowed: ${allowed.join(', ')}`,
        { allowed },
      ),
    );
  });
  // With validation (after the key is checked), before the schemas see the text the parser kept.
  app.addHook('preValidation', (request, _reply, done) => {
    // Routes that read no query string (health, the document) ignore it, as they always have; only
    // a URL with a query string is looked at.
    if (request.is404 || !request.url.includes('?') || !request.routeOptions.schema?.querystring)
      return done();
    const field = undecodableQueryField(request.url);
    if (field === null) return done();
    done(
      new StockholdError(
        'invalid_request',
        `querystring/${field} is not valid percent-encoded UTF-8 (a broken escape or an encoded lone surrogate)`,
        [{ path: `querystring/${field}`, message: 'is not valid percent-encoded UTF-8' }],
      ),
    );
  });
}

/** One line per answered request, at debug level, built only when it will be written. */
function addRequestLog(app: App): void {
  app.addHook('onResponse', (request, reply, done) => {
    // 503 is an answer given on purpose (overloaded, storage_unavailable, not_ready), logged once per
    // cause where it arises: a line per refused request would flood the log during an outage.
    const level = reply.statusCode >= 500 && reply.statusCode !== 503 ? 'error' : 'debug';
    const log = request.log as FastifyBaseLogger & { isLevelEnabled?: (level: string) => boolean };
    if (log.isLevelEnabled?.(level) !== false) {
      log[level](
        { method: request.method, url: request.url, status: reply.statusCode, ms: reply.elapsedTime },
        'request completed',
      );
    }
    done();
  });
}

/** JSON only, any other media type answered 415 rather than parsed into a string; no deep nesting. */
function addJsonParser(app: App): void {
  // An empty body is "no body" (a bare POST .../cancel with a JSON content type), not a parse error.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (request, raw, done) => {
    const text = raw as string;
    if (text.trim() === '') return done(null, undefined);
    parseJson(request, text, (error, body) => {
      if (error) return done(error, undefined);
      // 64 KiB of `[` is 65,536 levels: fine for JSON.parse, but every recursive walk after it
      // (fingerprinting, validation, logging) would overflow the stack. Refused up front.
      if (nestingExceeds(body, LIMITS.json_depth_max)) {
        return done(
          new StockholdError('invalid_request', `the body nests deeper than ${LIMITS.json_depth_max} levels`),
          undefined,
        );
      }
      done(null, body);
    });
  });
}

/** The OpenAPI document and the UI, which reads the same document clients fetch and shows its address. */
async function addDocumentation(app: App): Promise<void> {
  await app.register(swagger, SWAGGER_OPTIONS);
  await app.register(swaggerUi, {
    routePrefix: '/docs',
    uiConfig: {
      urls: [{ url: '/openapi.json', name: 'stockhold v1 (/openapi.json)' }],
      persistAuthorization: true,
    },
  });
}

export async function buildApp(context: AppContext, options: AppOptions): Promise<FastifyInstance> {
  const app = createFastify(options);
  const { body, text } = validators();
  app.setValidatorCompiler(({ schema, httpPart }) => (httpPart === 'body' ? body : text).compile(schema));
  app.setErrorHandler(errorHandler);
  addRouteChecks(app);
  addRequestLog(app);
  app.setNotFoundHandler((request, reply) =>
    sendError(reply, new StockholdError('not_found', `no route ${request.method} ${pathOf(request.url)}`)),
  );
  addJsonParser(app);
  await addDocumentation(app);

  for (const plugin of options.plugins ?? []) await plugin(app);
  await app.register(operationRoutes, context);
  await app.register(skuRoutes, context);
  await app.register(orderRoutes, context);
  await app.register(eventRoutes, context);
  return app;
}
