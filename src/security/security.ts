// Puts access control together for startServer: the keys (STOCKHOLD_API_KEYS and the database),
// the safe-default rule (open only on loopback with no key), and the plugins for buildApp.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import type { Config } from '../config.ts';
import { parseEnvironmentKeys } from '../core/api-keys.ts';
import type { Clock } from '../core/clock.ts';
import type { KyselyStore } from '../store/kysely-store.ts';
import { accessControl } from './access-control.ts';
import { securityHeaders } from './hardening.ts';
import { KeyVerifier } from './key-verifier.ts';
import { isLoopbackName } from './loopback.ts';

export const CREATE_KEY_HINT = 'npx stockhold keys create --scope admin --name ops';

export interface SecuritySetup {
  /** Access control first, so it sees (and checks) every route registered after it. */
  plugins: ((app: FastifyInstance) => Promise<void>)[];
  /** Why the server must not start (not loopback and no key), or null. */
  refusal: string | null;
  /** The keys' verifier: the server writes their last use with flushLastUse. */
  verifier: KeyVerifier;
}

export async function securitySetup(
  config: Config,
  dependencies: { store: KyselyStore; clock: Clock; logger: Logger },
): Promise<SecuritySetup> {
  const environment_keys = config.STOCKHOLD_API_KEYS?.trim()
    ? parseEnvironmentKeys(config.STOCKHOLD_API_KEYS)
    : new Map();
  const verifier = new KeyVerifier(
    dependencies.store.api_keys,
    environment_keys,
    dependencies.clock,
    config.API_KEY_CACHE_TTL_MS,
  );
  const open_allowed = isLoopbackName(config.HOST);
  const plugins = [
    accessControl({
      verifier,
      store: dependencies.store,
      open_allowed,
      rate_limit_per_key_per_second: config.RATE_LIMIT_PER_KEY_PER_SECOND,
      rate_limit_per_customer_per_minute: config.RATE_LIMIT_PER_CUSTOMER_PER_MINUTE,
      rate_limit_auth_failures_per_minute: config.RATE_LIMIT_AUTH_FAILURES_PER_MINUTE,
      isStoredReplay: (idempotency) => dependencies.store.isStoredReplay(idempotency),
    }),
    securityHeaders,
  ];
  if (await verifier.anyKeyExists()) {
    dependencies.logger.info({ environment_keys: environment_keys.size }, 'API keys are required');
    return { plugins, refusal: null, verifier };
  }
  if (!open_allowed) {
    return {
      plugins,
      verifier,
      refusal: `HOST=${config.HOST} is not loopback and no API key exists; create one first: ${CREATE_KEY_HINT} (or set STOCKHOLD_API_KEYS)`,
    };
  }
  dependencies.logger.warn(
    { host: config.HOST },
    `no API key exists: serving without access control on loopback only; create a key to require keys: ${CREATE_KEY_HINT}`,
  );
  return { plugins, refusal: null, verifier };
}
