// Puts the service together: config -> store (migrated) -> command queue -> HTTP app -> sweeper.
import type { FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { type Config, databaseLocation, redactUrl } from './config.ts';
import { type Clock, systemClock } from './core/clock.ts';
import { buildApp } from './http/app.ts';
import { EventHub } from './http/event-hub.ts';
import { createLogger } from './logger.ts';
import { CommandQueue } from './store/command-queue.ts';
import type { KyselyStore } from './store/kysely-store.ts';
import { openStore } from './store/open-store.ts';
import { Sweeper } from './sweeper/sweeper.ts';

export interface ServerOptions {
  clock?: Clock;
  logger?: Logger;
  /** Start the sweeper (tests that drive expiry by hand turn it off). */
  sweeper?: boolean;
}

export interface RunningServer {
  app: FastifyInstance;
  store: KyselyStore;
  queue: CommandQueue;
  sweeper: Sweeper;
  events: EventHub;
  url: string;
  close(): Promise<void>;
}

export class StartupError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartupError';
  }
}

/** Opens and migrates the database, or fails with a message that names it (never a stack trace). */
export async function openMigratedStore(config: Config): Promise<KyselyStore> {
  const location = databaseLocation(config);
  const where =
    location.kind === 'sqlite' ? `SQLite file ${location.path}` : `PostgreSQL at ${redactUrl(location.url)}`;
  let store: KyselyStore;
  try {
    store = await openStore(config);
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

export async function startServer(config: Config, options: ServerOptions = {}): Promise<RunningServer> {
  const clock = options.clock ?? systemClock;
  const logger = options.logger ?? createLogger(config.LOG_LEVEL);
  const store = await openMigratedStore(config);
  const queue = new CommandQueue(store, clock, {
    coalesce: config.COALESCE === 'on',
    batch_size_max: config.BATCH_SIZE_MAX,
    queue_length_max: config.QUEUE_LENGTH_MAX,
  });
  const events = new EventHub(store);
  const app = await buildApp(
    { store, queue, clock, events, default_hold_seconds: config.DEFAULT_HOLD_SECONDS },
    { logger },
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
  );
  let url: string;
  try {
    // A flash sale opens thousands of connections at once: Node's default backlog (511) would drop
    // or reset them before the server ever sees them (the kernel caps it at net.core.somaxconn).
    url = await app.listen({ port: config.PORT, host: config.HOST, backlog: 4096 });
  } catch (error) {
    await app.close();
    await store.close();
    throw new StartupError(`cannot listen on ${config.HOST}:${config.PORT}: ${(error as Error).message}`);
  }
  if (options.sweeper !== false) sweeper.start();
  logger.info({ url, database: store.dialect, coalesce: config.COALESCE }, 'stockhold is serving');

  let closing: Promise<void> | null = null;
  const close = () => {
    closing ??= (async () => {
      // Stop taking requests and finish those in flight, then the sweep, then the database.
      events.stop();
      await app.close();
      await queue.close();
      await sweeper.stop();
      await store.close();
      logger.info('stockhold stopped');
    })();
    return closing;
  };
  return { app, store, queue, sweeper, events, url, close };
}
