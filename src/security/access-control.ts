// The access-control plugin: every route must declare `config.access`; requests carry
// `Authorization: Bearer <key>`; scopes, own orders, open mode on loopback, and rate limits.
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeyPrincipal } from '../core/api-keys.ts';
import { orderNotFound, StockholdError } from '../core/errors.ts';
import type { AccessRule } from '../http/access.ts';
import { idempotencyOf } from '../http/idempotency.ts';
import type { Idempotency, Store } from '../store/store.ts';
import { bearerKey } from './api-keys.ts';
import type { KeyVerifier } from './key-verifier.ts';
import { isLoopbackName } from './loopback.ts';

export interface AccessControlOptions {
  verifier: KeyVerifier;
  /** For own_orders: who created an order. */
  store: Pick<Store, 'getOrder'>;
  /** HOST is loopback: with no key anywhere, the server runs open. */
  open_allowed: boolean;
  rate_limit_per_key_per_second: number;
  /** 0 turns the per-customer limit off. */
  rate_limit_per_customer_per_minute: number;
  /** Requests with an unknown or revoked key per client address per minute, before they get 429. */
  rate_limit_auth_failures_per_minute: number;
  /** Whether the database already holds the answer to this request (a replay, which does no work). */
  isStoredReplay(idempotency: Idempotency): Promise<boolean>;
}

/** Routes limited per customer_id (the body's), on top of the per-key limit: method, then pattern. */
const CUSTOMER_LIMITED_ROUTES: ReadonlyMap<string, string> = new Map([['POST', '/v1/orders']]);
/** Distinct keys, IPs and customers the in-memory rate-limit store remembers (LRU). */
const RATE_LIMIT_ENTRIES_MAX = 100_000;

/** Routes registered before this plugin (Swagger UI's) carry no rule: /docs is public, the rest admin. */
function ruleOf(request: FastifyRequest, route = request.routeOptions): AccessRule {
  const rule = route.config?.access;
  if (rule !== undefined) return rule;
  if (request.is404) return 'public';
  const url = route.url ?? '';
  return url === '/docs' || url.startsWith('/docs/') ? 'public' : { scopes: [] };
}

function allows(rule: Exclude<AccessRule, 'public'>, principal: ApiKeyPrincipal): boolean {
  return principal.scope === 'admin' || rule.scopes.includes(principal.scope);
}

function rateLimited(limit: string, ttl_seconds: number): StockholdError {
  const retry_after_seconds = Math.max(1, ttl_seconds);
  return new StockholdError(
    'rate_limited',
    `too many requests (${limit}); retry in ${retry_after_seconds} s`,
    {
      limit,
      retry_after_seconds,
    },
  );
}

/** Host headers already judged (clients send the same few); bounded, since any client may send any. */
const HOST_VERDICTS_MAX = 64;
const host_verdicts = new Map<string, boolean>();

/** isLoopbackName, remembered: parsing the Host header was 1.7% of a checkout's CPU. */
function loopbackHost(hostname: string): boolean {
  let verdict = host_verdicts.get(hostname);
  if (verdict === undefined) {
    verdict = isLoopbackName(hostname);
    if (host_verdicts.size < HOST_VERDICTS_MAX) host_verdicts.set(hostname, verdict);
  }
  return verdict;
}

type Limiter = ReturnType<FastifyInstance['createRateLimit']>;

/**
 * The three limits. They are checked by our own hooks (createRateLimit), so refusals use the usual
 * error shape and a route can carry two limits (per key and per customer).
 */
async function createLimits(app: FastifyInstance, options: AccessControlOptions) {
  await app.register(rateLimit, { global: false, cache: RATE_LIMIT_ENTRIES_MAX });
  return {
    per_key: app.createRateLimit({
      max: options.rate_limit_per_key_per_second,
      timeWindow: 1000,
      keyGenerator: (request) => (request.api_key ? `key:${request.api_key.id}` : `ip:${request.ip}`),
    }),
    // Within the calling key: customer ids are each storefront's own, so storefront A's bot does not
    // lock the same id out on storefront B.
    per_customer: app.createRateLimit({
      max: options.rate_limit_per_customer_per_minute,
      timeWindow: 60_000,
      keyGenerator: (request) =>
        `customer:${request.api_key?.id}:${(request.body as { customer_id?: string }).customer_id}`,
    }),
    auth_failures: app.createRateLimit({
      max: options.rate_limit_auth_failures_per_minute,
      timeWindow: 60_000,
      keyGenerator: (request) => `auth-failure:${request.ip}`,
    }),
  };
}

/** Sets request.api_key from the request's key, or refuses it: no key, unknown, or not allowed. */
async function authenticate(
  request: FastifyRequest,
  rule: AccessRule,
  verifier: KeyVerifier,
  auth_failures: Limiter,
): Promise<void> {
  if (rule === 'public') return;
  const key = bearerKey(request.headers.authorization);
  if (key === null) throw new StockholdError('unauthorized', 'send an API key: Authorization: Bearer <key>');
  const principal = await verifier.verify(key);
  if (principal === null) {
    // Counted per address only when they fail: a valid key is served whatever its address
    // did, so one bad client behind a shared proxy address does not lock out the others.
    const failures = await auth_failures(request);
    if (!failures.isAllowed && failures.isExceeded)
      throw rateLimited('failed authentication per address', failures.ttlInSeconds);
    throw new StockholdError('unauthorized', 'the API key is unknown or revoked');
  }
  if (!allows(rule, principal)) {
    throw new StockholdError('forbidden', `a ${principal.scope} key may not call this route`);
  }
  request.api_key = principal;
}

/** A checkout key reaches only its own orders; checkouts are limited per customer. */
async function checkKeyedRequest(
  request: FastifyRequest,
  principal: ApiKeyPrincipal,
  options: AccessControlOptions,
  per_customer: Limiter,
): Promise<void> {
  // Fastify builds a new routeOptions object on each read: read once.
  const route = request.routeOptions;
  const rule = ruleOf(request, route);
  if (rule !== 'public' && rule.own_orders && principal.scope === 'checkout') {
    // Another key's order answers exactly like a missing one, so order ids never leak. The
    // creating key never changes, so this read cannot race with the command that follows.
    const id = (request.params as { id: string }).id;
    const order = await options.store.getOrder(id);
    if (order && order.api_key_id !== principal.id) {
      throw orderNotFound(id);
    }
  }
  // The anti-bot limit guards the keyed storefront path; an open (loopback, keyless) server is
  // one person's development run and is not limited per customer. A replay is answered from the
  // stored answer and holds nothing more: it does not spend the customer's budget (one indexed
  // read, only for requests that carry an Idempotency-Key).
  if (
    options.rate_limit_per_customer_per_minute > 0 &&
    CUSTOMER_LIMITED_ROUTES.get(request.method) === route.url
  ) {
    const idempotency = idempotencyOf(request);
    if (idempotency !== undefined && (await options.isStoredReplay(idempotency))) return;
    const limit = await per_customer(request);
    if (!limit.isAllowed && limit.isExceeded) throw rateLimited('per customer', limit.ttlInSeconds);
  }
}

export function accessControl(options: AccessControlOptions): (app: FastifyInstance) => Promise<void> {
  const { verifier } = options;
  return async (app) => {
    // A route without a rule is a start-up failure, so a new route can never be silently open.
    app.addHook('onRoute', (route) => {
      if (route.config?.access === undefined) {
        const methods = Array.isArray(route.method) ? route.method.join(',') : route.method;
        throw new Error(`route ${methods} ${route.url} declares no config.access rule (src/http/access.ts)`);
      }
    });
    const { per_key, per_customer, auth_failures } = await createLimits(app, options);

    app.decorateRequest('api_key', null);
    // One function for every request (no closure per checkout); only lasting requests call it.
    app.decorateRequest('key_still_valid', async function (this: FastifyRequest): Promise<boolean> {
      const rule = ruleOf(this);
      const key = bearerKey(this.headers.authorization);
      if (rule === 'public' || key === null) return false;
      // A database that cannot answer now counts as no: the client reconnects and is asked again.
      const again = await verifier.verify(key).catch(() => null);
      return again !== null && allows(rule, again);
    });
    // Once a key exists it always will (revoked keys count): from then on nobody asks again.
    let keys_required = false;
    app.addHook('onRequest', async (request) => {
      keys_required ||= !options.open_allowed || (await verifier.anyKeyExists());
      const open = !keys_required;
      if (open) {
        // DNS rebinding: a web page can make a browser send requests to 127.0.0.1 under its own
        // host name; an open server answers only requests addressed to a loopback name.
        if (!loopbackHost(request.hostname)) {
          throw new StockholdError(
            'forbidden',
            'this server runs without keys and answers only loopback host names',
          );
        }
      } else {
        await authenticate(request, ruleOf(request), verifier, auth_failures);
      }
      const limit = await per_key(request);
      if (!limit.isAllowed && limit.isExceeded) throw rateLimited('per key', limit.ttlInSeconds);
    });
    // Both checks are for keyed requests: one without a key (open mode, public routes) passes
    // synchronously, without a promise or a look at its route.
    app.addHook('preHandler', (request, _reply, done) => {
      const principal = request.api_key;
      if (!principal) return done();
      checkKeyedRequest(request, principal, options, per_customer).then(() => done(), done);
    });
  };
}
