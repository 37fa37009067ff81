// The one configuration loader: environment variables, over an optional JSON config file, over
// defaults; validated at start with a message that names the bad key.
import { readFileSync } from 'node:fs';
import { type Static, Type } from 'typebox';
import { Value } from 'typebox/value';
import { ApiKeysConfigError, parseEnvironmentKeys } from './core/api-keys.ts';
import { ConfigError } from './core/config-error.ts';
import { LIMITS } from './core/limits.ts';

const Integer = (minimum: number, maximum: number, default_value: number) =>
  Type.Integer({ minimum, maximum, default: default_value });

export const ConfigSchema = Type.Object(
  {
    PORT: Integer(0, 65_535, 3000),
    HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
    DATABASE_URL: Type.String({
      pattern: '^(sqlite:|postgres://|postgresql://)',
      default: 'sqlite:./data/stockhold.db',
    }),
    PGUSER: Type.Optional(Type.String()),
    PGPASSWORD: Type.Optional(Type.String()),
    PG_POOL_SIZE: Integer(1, 200, 10),
    PG_STATEMENT_TIMEOUT_MS: Integer(100, 600_000, 10_000),
    SWEEP_INTERVAL_MS: Integer(10, 3_600_000, 1000),
    SWEEP_BATCH_SIZE: Integer(1, 100_000, 5000),
    DEFAULT_HOLD_SECONDS: Integer(
      LIMITS.hold_seconds_min,
      LIMITS.hold_seconds_max,
      LIMITS.hold_seconds_default,
    ),
    /** Extensions one held order may have (POST /v1/orders/{id}/extension). */
    HOLD_EXTENSIONS_MAX: Integer(0, 1000, LIMITS.hold_extensions_max_default),
    /** An extension never moves the deadline past created_at plus this many seconds. */
    HOLD_SECONDS_TOTAL_MAX: Integer(
      LIMITS.hold_seconds_min,
      30 * LIMITS.hold_seconds_max,
      LIMITS.hold_seconds_total_max_default,
    ),
    LOG_LEVEL: Type.String({ pattern: '^(fatal|error|warn|info|debug|trace|silent)$', default: 'info' }),
    /** Group commit of concurrent writes: `on` coalesces, `off` runs one transaction per request. */
    COALESCE: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
    BATCH_SIZE_MAX: Integer(1, 10_000, 512),
    QUEUE_LENGTH_MAX: Integer(1, 1_000_000, 20_000),
    SHUTDOWN_TIMEOUT_MS: Integer(100, 600_000, 10_000),
    /** After SIGTERM: serve on (answers say Connection: close, /readyz says not ready) this long, then close. */
    SHUTDOWN_DRAIN_MS: Integer(0, 600_000, 1000),
    /**
     * A client has this long to send a request's headers (a connection that sends nothing counts);
     * then it is answered 408 and closed. At most the 30 s a whole request gets.
     */
    HEADERS_TIMEOUT_MS: Integer(100, 30_000, 30_000),
    /** An idle keep-alive connection is closed after this; above load balancers' usual 60 s. */
    KEEP_ALIVE_TIMEOUT_MS: Integer(100, 600_000, 72_000),
    /** Open connections at most; past it a new connection is closed at once, before any request. */
    CONNECTIONS_MAX: Integer(1, 1_000_000, 10_000),
    /** Run the webhook delivery worker in this process (`off` for processes that only serve). */
    WEBHOOKS_WORKER: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
    WEBHOOK_POLL_INTERVAL_MS: Integer(10, 60_000, 500),
    /** Webhook attempts in flight at once, over every endpoint. */
    WEBHOOK_BATCH_SIZE: Integer(1, 1000, 50),
    /** Attempts in flight at once to one endpoint (1 while its last attempt failed): a hanging one holds no more. */
    WEBHOOK_ENDPOINT_IN_FLIGHT_MAX: Integer(1, 1000, 8),
    WEBHOOK_TIMEOUT_MS: Integer(100, 120_000, 10_000),
    WEBHOOK_ATTEMPTS_MAX: Integer(1, 100, 15),
    WEBHOOK_BACKOFF_BASE_MS: Integer(1, 3_600_000, 1000),
    WEBHOOK_BACKOFF_MAX_MS: Integer(1, 86_400_000, 3_600_000),
    /** Bytes one /v1/events subscriber may have waiting to be sent; past it, it is disconnected (it resumes with Last-Event-ID). */
    // At least 256 KiB: a response's own write buffer holds up to 64 KiB (Node 22+) before it
    // pushes back, and a replay piece (a quarter of this bound, at most 64 KiB) comes on top.
    EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX: Integer(262_144, 268_435_456, 1_048_576),
    /** Bytes every /v1/events subscriber together may have waiting; past it, subscribers that lag are disconnected. */
    EVENTS_BUFFER_BYTES_MAX: Integer(1_048_576, 17_179_869_184, 67_108_864),
    /** A /v1/events subscriber whose waiting bytes have not drained for this long is not reading: it is disconnected. */
    EVENTS_STALL_TIMEOUT_MS: Integer(100, 600_000, 30_000),
    /** Keys given at start, `admin:<key>,checkout:<key>,read:<key>` (security, issue 10); never logged. */
    STOCKHOLD_API_KEYS: Type.Optional(Type.String()),
    /** How long a server trusts its last lookup of a key: the bound on seeing new or revoked keys. */
    API_KEY_CACHE_TTL_MS: Integer(0, 60_000, 1000),
    RATE_LIMIT_PER_KEY_PER_SECOND: Integer(1, 10_000_000, 50_000),
    /** Checkouts per customer_id per minute; 0 turns the limit off. */
    RATE_LIMIT_PER_CUSTOMER_PER_MINUTE: Integer(0, 1_000_000, 10),
    /** Requests with an unknown or revoked key per client address per minute; past it, 429. */
    RATE_LIMIT_AUTH_FAILURES_PER_MINUTE: Integer(1, 1_000_000, 100),
    /** Default: true only when HOST is loopback (see src/security/webhook-targets.ts). */
    WEBHOOK_ALLOW_PRIVATE_TARGETS: Type.Optional(
      Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')]),
    ),
  },
  { additionalProperties: true },
);

export type Config = Static<typeof ConfigSchema>;

// DATABASE_URL is parsed where the databases are opened; re-exported here, the one config module.
export { type DatabaseLocation, databaseLocation, describeLocation } from './store/open-store.ts';
export { redactUrl } from './store/redact-url.ts';
export { ConfigError };

const INTEGER_KEYS = new Set(
  Object.entries(ConfigSchema.properties)
    .filter(([, schema]) => (schema as { type?: string }).type === 'integer')
    .map(([key]) => key),
);

function fromEnvironment(env: NodeJS.ProcessEnv): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const key of Object.keys(ConfigSchema.properties)) {
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    values[key] = INTEGER_KEYS.has(key) && /^-?\d+$/.test(raw.trim()) ? Number(raw.trim()) : raw;
  }
  return values;
}

function fromFile(path: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read the config file ${path}: ${(error as Error).message}`);
  }
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
      throw new Error('not an object');
    return parsed as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`the config file ${path} is not a JSON object: ${(error as Error).message}`);
  }
}

/** Loads the configuration; `STOCKHOLD_CONFIG` (or `config_path`) names an optional JSON file. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env, config_path = env.STOCKHOLD_CONFIG): Config {
  const merged = { ...(config_path ? fromFile(config_path) : {}), ...fromEnvironment(env) };
  const config = Value.Default(ConfigSchema, merged) as Record<string, unknown>;
  const first = Value.Errors(ConfigSchema, config)[0];
  if (first) {
    const key = first.instancePath.replace(/^\//, '') || 'config';
    // Never echo a secret back: a bad STOCKHOLD_API_KEYS is named, its value is not printed.
    const value = key === 'STOCKHOLD_API_KEYS' ? '[redacted]' : JSON.stringify(config[key]);
    throw new ConfigError(`invalid configuration: ${key} = ${value}: ${first.message}`);
  }
  if ((config.EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX as number) > (config.EVENTS_BUFFER_BYTES_MAX as number))
    throw new ConfigError(
      `invalid configuration: EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX = ${config.EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX}: must not exceed EVENTS_BUFFER_BYTES_MAX (${config.EVENTS_BUFFER_BYTES_MAX})`,
    );
  if (typeof config.STOCKHOLD_API_KEYS === 'string' && config.STOCKHOLD_API_KEYS.trim() !== '') {
    try {
      parseEnvironmentKeys(config.STOCKHOLD_API_KEYS);
    } catch (error) {
      if (error instanceof ApiKeysConfigError)
        throw new ConfigError(`invalid configuration: ${error.message}`);
      throw error;
    }
  }
  return config as Config;
}
