// Puts the service together, in one order, each part built whole from the parts before it:
// store (migrated) -> command queue and metrics -> security -> HTTP app -> background workers ->
// listen -> start; close undoes it in reverse.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type Config, databaseLocation, describeLocation } from './config.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { StockholdError } from './core/errors.ts';
import { dashboardPlugin } from './dashboard/serve.ts';
import { buildApp } from './http/app.ts';
import { EventHub } from './http/event-hub.ts';
import { Metrics } from './http/metrics.ts';
import { dropRoutes } from './http/routes/drops.ts';
import { statsPlugin } from './http/routes/stats.ts';
import { webhookRoutes } from './http/routes/webhooks.ts';
import { createLogger } from './logger.ts';
import { type SecuritySetup, securitySetup } from './security/security.ts';
import { allowPrivateWebhookTargets, checkWebhookTarget, guardedLookup } from './security/webhook-targets.ts';
import { CommandQueue } from './store/command-queue.ts';
import type { KyselyStore, KyselyStoreOptions } from './store/kysely-store.ts';
import { openStore } from './store/open-store.ts';
import { isStorageUnavailable, OutageEpisodes } from './store/storage-faults.ts';
import { Admitter } from './sweeper/admitter.ts';
import { Sweeper } from './sweeper/sweeper.ts';
import { webhookRetentionPurges } from './webhooks/retention.ts';
import { type TargetCheck, WebhookWorker } from './webhooks/worker.ts';

/** How often each process writes when API keys were last accepted (and once more as it stops). */
const KEY_LAST_USE_INTERVAL_MS = 60_000;
/** Longest gap between Node's sweeps for connections past their headers or request timeout. */
const CONNECTIONS_CHECK_INTERVAL_MS_MAX = 1000;
/** Connections refused at the cap are logged at most this often, with their count. */
const DROPPED_LOG_INTERVAL_MS = 10_000;

/**
 * Timeouts and the connection cap on the HTTP server. Node closes a connection past its headers
 * timeout only when it sweeps, every 30 s by default: a slow-header connection lived up to a minute,
 * so thousands of them held file descriptors. Swept every second (or at half a short timeout), it
 * is closed within about a second of its timeout. Past CONNECTIONS_MAX, Node closes each new
 * connection as it is accepted, before it can send anything: connections already open are served.
 */
function limitConnections(app: FastifyInstance, config: Config, logger: Logger): void {
  const server = app.server;
  server.headersTimeout = config.HEADERS_TIMEOUT_MS;
  // A property of every http.Server (read when it starts listening) that @types/node only declares
  // as a createServer option.
  (server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval = Math.min(
    CONNECTIONS_CHECK_INTERVAL_MS_MAX,
    Math.ceil(config.HEADERS_TIMEOUT_MS / 2),
  );
  server.keepAliveTimeout = config.KEEP_ALIVE_TIMEOUT_MS;
  server.maxConnections = config.CONNECTIONS_MAX;
  let dropped = 0;
  let logged_at_ms = 0;
  server.on('drop', () => {
    dropped += 1;
    const now_ms = Date.now();
    if (now_ms - logged_at_ms < DROPPED_LOG_INTERVAL_MS) return;
    logger.warn(
      { connections_max: config.CONNECTIONS_MAX, dropped },
      'connections refused: CONNECTIONS_MAX connections are open',
    );
    logged_at_ms = now_ms;
    dropped = 0;
  });
}

export interface ServerOptions {
  clock?: Clock;
  logger?: Logger;
  /** Start the sweeper (tests that drive expiry by hand turn it off). */
  sweeper?: boolean;
  /** Where webhooks may be sent (checked on registration and before every attempt). */
  check_target?: TargetCheck;
  /** More plugins for buildApp, after access control (tests collect the routes with one). */
  plugins?: ((app: FastifyInstance) => Promise<void>)[];
}

export interface RunningServer {
  app: FastifyInstance;
  store: KyselyStore;
  queue: CommandQueue;
  sweeper: Sweeper;
  /** Admits drops' tickets at their rate (issue 24); runs when the sweeper does. */
  admitter: Admitter;
  events: EventHub;
  metrics: Metrics;
  webhook_worker: WebhookWorker;
  url: string;
  /**
   * The first step of a graceful shutdown: for `drain_ms` keep serving, but close each connection
   * after its answer and report not ready, so load balancers and keep-alive clients move away
   * before the listener closes (a request already sent on an idle connection is then answered,
   * not reset).
   */
  drain(drain_ms: number): Promise<void>;
  close(): Promise<void>;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Opens and migrates the database, or fails with a message that names it (never a stack trace). */
export async function openMigratedStore(
  config: Config,
  options: KyselyStoreOptions = {},
): Promise<KyselyStore> {
  const where = describeLocation(databaseLocation(config), 'as_given');
  let store: KyselyStore;
  try {
    store = await openStore(config, options);
  } catch (error) {
    throw new StartupError(`cannot open the database (${where}): ${(error as Error).message}`);
  }
  try {
    await store.migrate();
  } catch (error) {
    await store.close().catch(() => {});
    throw new StartupError(`cannot migrate the database (${where}): ${(error as Error).message}`);
  }
  return store;
}

/** What every part of the server is built from. */
interface Foundation {
  config: Config;
  options: ServerOptions;
  clock: Clock;
  logger: Logger;
  store: KyselyStore;
}

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const store = await openMigratedStore(config, { logger });
  const base: Foundation = { config, options, clock, logger, store };
  const { queue, metrics } = writePath(base);
  const security = await securitySetup(config, { store, clock, logger });
  if (security.refusal !== null) {
    await store.close();
    throw new StartupError(security.refusal);
  }
  const check_target = webhookTargetCheck(base);
  const http = await httpApp(base, { queue, metrics, security, check_target }).catch(
    async (error: unknown) => {
      // A route without an access rule (or any plugin failure) must not leave the database open.
      await store.close();
      throw error;
    },
  );
  const workers = backgroundWorkers(base, metrics, check_target);
  const url = await listen(base, http.app);
  if (options.sweeper !== false) {
    workers.sweeper.start();
    workers.admitter.start();
  }
  if (config.WEBHOOKS_WORKER === 'on') workers.webhook_worker.start();
  const key_use = keyLastUseWriter(security, logger);
  logger.info(
    { url, database: store.dialect, coalesce: config.COALESCE, node_flags: process.execArgv },
    'stockhold is serving',
  );
  const close = closer(async () => {
    // Stop taking requests and finish those in flight, then the sweep, then the database.
    http.events.stop();
    await http.app.close();
    await queue.close();
    // The current sweep and webhook attempts finish (each attempt is bounded by its timeout).
    await Promise.all([workers.sweeper.stop(), workers.admitter.stop(), workers.webhook_worker.stop()]);
    await key_use.stop();
    await store.close();
    logger.info('stockhold stopped');
  });
  return {
    app: http.app,
    store,
    queue,
    events: http.events,
    metrics,
    ...workers,
    url,
    drain: http.drain,
    close,
  };
}

/** The command queue in front of the store, and the metrics that watch both. */
function writePath({ config, clock, store }: Foundation): { queue: CommandQueue; metrics: Metrics } {
  // The queue gauge reads the queue at scrape time, after both exist.
  const metrics = new Metrics({ store, queue: () => queue, clock });
  const queue = new CommandQueue(
    store,
    clock,
    {
      coalesce: config.COALESCE === 'on',
      batch_size_max: config.BATCH_SIZE_MAX,
      queue_length_max: config.QUEUE_LENGTH_MAX,
    },
    metrics.observeBatch,
  );
  store.commits.listen(metrics.observeCommit);
  return { queue, metrics };
}

/**
 * Webhook targets: private, loopback and link-local addresses are refused (after DNS resolution)
 * unless WEBHOOK_ALLOW_PRIVATE_TARGETS; checked on registration and before every attempt.
 */
function webhookTargetCheck({ config, options }: Foundation): TargetCheck {
  const allow_private = allowPrivateWebhookTargets(config);
  return options.check_target ?? ((url) => checkWebhookTarget(url, { allow_private }));
}

/** The fastify app with every plugin, the event hub it streams from, and its drain switch. */
async function httpApp(
  { config, options, clock, logger, store }: Foundation,
  parts: { queue: CommandQueue; metrics: Metrics; security: SecuritySetup; check_target: TargetCheck },
): Promise<{ app: FastifyInstance; events: EventHub; drain: (drain_ms: number) => Promise<void> }> {
  const events = new EventHub(store, {
    subscriber_buffer_bytes_max: config.EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX,
    buffer_bytes_max: config.EVENTS_BUFFER_BYTES_MAX,
    stall_timeout_ms: config.EVENTS_STALL_TIMEOUT_MS,
  });
  const draining = drainSwitch();
  const app = await buildApp(
    {
      store,
      queue: parts.queue,
      clock,
      events,
      default_hold_seconds: config.DEFAULT_HOLD_SECONDS,
      hold_extensions_max: config.HOLD_EXTENSIONS_MAX,
      hold_seconds_total_max: config.HOLD_SECONDS_TOTAL_MAX,
    },
    {
      logger,
      // Access control first: it only sees (and guards) the routes registered after it.
      plugins: [
        ...parts.security.plugins,
        parts.metrics.plugin,
        statsPlugin(() => clock.now()),
        dashboardPlugin(),
        draining.plugin,
        async (instance) => {
          await instance.register(dropRoutes, { drops: store.drops, queue: parts.queue, clock });
          await instance.register(webhookRoutes, {
            webhooks: store.webhooks,
            clock,
            check_target: parts.check_target,
            attempts_max: config.WEBHOOK_ATTEMPTS_MAX,
          });
        },
        ...(options.plugins ?? []),
      ],
    },
  );
  limitConnections(app, config, logger);
  return { app, events, drain: draining.drain };
}

/**
 * While draining, every answer closes its connection and readiness says not ready; `drain` turns it
 * on and waits `drain_ms`.
 */
function drainSwitch(): {
  plugin: (instance: FastifyInstance) => Promise<void>;
  drain: (drain_ms: number) => Promise<void>;
} {
  let draining = false;
  const plugin = async (instance: FastifyInstance) => {
    instance.addHook('onRequest', async (request, reply) => {
      if (!draining) return;
      reply.header('connection', 'close');
      if (request.routeOptions.url === '/readyz')
        throw new StockholdError('not_ready', 'the server is shutting down');
    });
  };
  const drain = async (drain_ms: number) => {
    draining = true;
    if (drain_ms > 0) await new Promise((resolve) => setTimeout(resolve, drain_ms));
  };
  return { plugin, drain };
}

/** The webhook delivery worker and the sweeper (expiry and retention purges), not yet started. */
function backgroundWorkers(
  { config, clock, logger, store }: Foundation,
  metrics: Metrics,
  check_target: TargetCheck,
): { sweeper: Sweeper; admitter: Admitter; webhook_worker: WebhookWorker } {
  const webhook_worker = new WebhookWorker(
    store.webhooks,
    clock,
    {
      poll_interval_ms: config.WEBHOOK_POLL_INTERVAL_MS,
      batch_size: config.WEBHOOK_BATCH_SIZE,
      endpoint_in_flight_max: config.WEBHOOK_ENDPOINT_IN_FLIGHT_MAX,
      fan_out_batch_size: 1000,
      timeout_ms: config.WEBHOOK_TIMEOUT_MS,
      attempts_max: config.WEBHOOK_ATTEMPTS_MAX,
      backoff_base_ms: config.WEBHOOK_BACKOFF_BASE_MS,
      backoff_max_ms: config.WEBHOOK_BACKOFF_MAX_MS,
      check_target,
      lookup: guardedLookup(allowPrivateWebhookTargets(config)),
    },
    logger,
    metrics.observeWebhookAttempt,
  );
  const sweeper = new Sweeper(
    store,
    clock,
    {
      interval_ms: config.SWEEP_INTERVAL_MS,
      batch_size: config.SWEEP_BATCH_SIZE,
      batches_per_tick_max: 20,
      purge_interval_ms: 60_000,
    },
    logger,
    webhookRetentionPurges(store.webhooks),
  );
  const admitter = new Admitter(store.drops, clock, logger, metrics.observeAdmission);
  return { sweeper, admitter, webhook_worker };
}

/** Listens on HOST:PORT; on failure closes the app and the store and says why. */
async function listen({ config, store }: Foundation, app: FastifyInstance): Promise<string> {
  try {
    // A flash sale opens thousands of connections at once: Node's default backlog (511) would drop
    // or reset them before the server ever sees them (the kernel caps it at net.core.somaxconn).
    return await app.listen({ port: config.PORT, host: config.HOST, backlog: 4096 });
  } catch (error) {
    await app.close();
    await store.close();
    throw new StartupError(`cannot listen on ${config.HOST}:${config.PORT}: ${(error as Error).message}`);
  }
}

/**
 * Writes when API keys were last accepted, every KEY_LAST_USE_INTERVAL_MS and once more at `stop`.
 * The times are kept for the next try when a write fails; an outage is logged once, not per minute.
 */
function keyLastUseWriter(security: SecuritySetup, logger: Logger): { stop: () => Promise<void> } {
  const outages = new OutageEpisodes('the API key last-use writer', logger);
  const record = () =>
    security.verifier.flushLastUse().then(
      () => outages.succeeded(),
      (error: unknown) => {
        if (isStorageUnavailable(error)) outages.failed(error);
        else logger.warn({ err: error }, 'cannot record when API keys were last used');
      },
    );
  const timer = setInterval(record, KEY_LAST_USE_INTERVAL_MS).unref();
  return {
    async stop() {
      clearInterval(timer);
      await record();
    },
  };
}

/** `shutdown` run once, however often close is called; every call waits for it. */
function closer(shutdown: () => Promise<void>): () => Promise<void> {
  let closing: Promise<void> | null = null;
  return () => {
    closing ??= shutdown();
    return closing;
  };
}
