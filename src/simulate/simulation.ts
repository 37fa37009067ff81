// One simulation: the shopper script from the seed, a fresh database for each strategy (a temporary
// SQLite directory, or two new schemas in the PostgreSQL database given), both runs, clean-up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { redactUrl } from '../config.ts';
import { type DropMode, type DropRun, runDrop } from './drop-runner.ts';
import { DROP_TIMING, type DropParameters, generateDropScript } from './drop-script.ts';
import { LegacyStrategy, openLegacyPostgres, openLegacySqlite } from './legacy.ts';
import { runStrategy, SALE_START_MS, type StrategyRun } from './runner.ts';
import { generateScript, type SimulationParameters } from './script.ts';
import { StockholdStrategy } from './stockhold.ts';
import type { Strategy, StrategyName } from './strategy.ts';

export interface SimulationOptions {
  parameters: SimulationParameters;
  /** A postgres:// URL; without it both strategies run on SQLite files in a temporary directory. */
  database_url?: string;
  /** Requests in flight at once, at most, for both strategies alike. */
  concurrency: number;
  on_start?: (strategy: StrategyName, total_events: number) => void;
  on_progress?: (strategy: StrategyName, done: number, total: number) => void;
  /** Aborts the run; the databases are still cleaned up. */
  signal?: AbortSignal;
}

export interface SimulationResult {
  parameters: SimulationParameters;
  database: 'sqlite' | 'postgres';
  concurrency: number;
  started_at: string;
  runs: StrategyRun[];
}

/** The limits on in-flight requests the command accepts. */
export const CONCURRENCY_MAX = 1000;

interface Environment {
  legacy(): Promise<Strategy>;
  /** A stockhold server on a fresh database of its own, named `name` (one per run). */
  stockhold(
    name: string,
    hold_seconds: number,
    start_ms: number,
    sockets_max: number,
  ): Promise<StockholdStrategy>;
  /**
   * Removes the database of a finished stockhold run. Two stockhold runs need it between them on
   * PostgreSQL: Kysely's migrator looks for its lock table in every schema, finds the first run's,
   * and the second run's migration fails.
   */
  release(name: string): Promise<void>;
  dispose(): Promise<void>;
}

function sqliteEnvironment(): Environment {
  const directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-'));
  return {
    legacy: async () => new LegacyStrategy(openLegacySqlite(join(directory, 'legacy.db'))),
    stockhold: (name, hold_seconds, start_ms, sockets_max) => {
      const path = join(directory, `${name}.db`);
      return StockholdStrategy.start({
        database_url: `sqlite:${path}`,
        location: `SQLite file ${path}`,
        hold_seconds,
        start_ms,
        sockets_max,
      });
    },
    async release(name) {
      for (const suffix of ['', '-wal', '-shm'])
        rmSync(join(directory, `${name}.db${suffix}`), { force: true });
    },
    async dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A fresh schema per run in the given database, dropped at the end: the user's own tables stay untouched. */
async function postgresEnvironment(url: string): Promise<Environment> {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const schemas: string[] = [];
  const withClient = async (use: (client: pg.Client) => Promise<void>) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      await use(client);
    } finally {
      await client.end();
    }
  };
  const schemaOf = (name: string) => `simulate_${name}_${suffix}`;
  const createSchema = async (name: string) => {
    const schema = schemaOf(name);
    await withClient((client) => client.query(`CREATE SCHEMA "${schema}"`).then(() => undefined));
    schemas.push(schema);
    return schema;
  };
  const dropSchemas = (names: readonly string[]) =>
    withClient(async (client) => {
      for (const schema of names) await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
    });
  // One round trip now, so a database that cannot be reached fails before any run.
  await withClient(async () => {});
  const display = redactUrl(url);
  return {
    legacy: async () => new LegacyStrategy(openLegacyPostgres(url, await createSchema('legacy'), display)),
    stockhold: async (name, hold_seconds, start_ms, sockets_max) => {
      const schema = await createSchema(name);
      const stockhold_url = new URL(url);
      stockhold_url.searchParams.set('options', `-c search_path=${schema}`);
      return StockholdStrategy.start({
        database_url: stockhold_url.toString(),
        location: `PostgreSQL ${display}, schema ${schema}`,
        hold_seconds,
        start_ms,
        sockets_max,
      });
    },
    release: (name) => dropSchemas([schemaOf(name)]),
    dispose: () => dropSchemas(schemas),
  };
}

async function runOne(
  strategy: Strategy,
  options: SimulationOptions,
  script: ReturnType<typeof generateScript>,
): Promise<StrategyRun> {
  try {
    await strategy.setup(script.skus);
    let started = false;
    return await runStrategy(strategy, script, {
      concurrency: options.concurrency,
      signal: options.signal,
      on_progress: (done, total) => {
        if (!started) {
          started = true;
          options.on_start?.(strategy.name, total);
        }
        options.on_progress?.(strategy.name, done, total);
      },
    });
  } finally {
    await strategy.close();
  }
}

function checkConcurrency(concurrency: number): void {
  if (!Number.isInteger(concurrency) || concurrency < 1 || concurrency > CONCURRENCY_MAX)
    throw new RangeError(`concurrency must be an integer in 1..${CONCURRENCY_MAX}`);
}

function environmentFor(database_url: string | undefined): Promise<Environment> | Environment {
  return database_url ? postgresEnvironment(database_url) : sqliteEnvironment();
}

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  checkConcurrency(options.concurrency);
  const script = generateScript(options.parameters);
  const started_at = new Date().toISOString();
  const environment = await environmentFor(options.database_url);
  try {
    // One after the other, not side by side: each strategy gets the whole machine.
    const legacy = await runOne(await environment.legacy(), options, script);
    const stockhold = await runOne(
      await environment.stockhold(
        'stockhold',
        options.parameters.hold_seconds,
        SALE_START_MS,
        options.concurrency,
      ),
      options,
      script,
    );
    return {
      parameters: options.parameters,
      database: options.database_url ? 'postgres' : 'sqlite',
      concurrency: options.concurrency,
      started_at,
      runs: [legacy, stockhold],
    };
  } finally {
    await environment.dispose();
  }
}

export interface DropSimulationOptions {
  parameters: SimulationParameters;
  drop: DropParameters;
  /** A postgres:// URL; without it both runs are on SQLite files in a temporary directory. */
  database_url?: string;
  concurrency: number;
  on_start?: (mode: DropMode) => void;
  on_step?: (mode: DropMode, simulated_s: number) => void;
  signal?: AbortSignal;
}

export interface DropSimulationResult {
  /** The sale's parameters (its SKUs are the hot ones: a drop). */
  parameters: SimulationParameters;
  drop: DropParameters;
  database: 'sqlite' | 'postgres';
  concurrency: number;
  started_at: string;
  runs: DropRun[];
}

/**
 * The same drop's shoppers on the same stock, twice, each on a fresh stockhold database: first-come
 * (no drop: everyone checks out at 00:00) and through the waiting room (a drop that starts at 00:00).
 */
export async function simulateDrop(options: DropSimulationOptions): Promise<DropSimulationResult> {
  checkConcurrency(options.concurrency);
  const script = generateDropScript(options.parameters, options.drop);
  const started_at = new Date().toISOString();
  const environment = await environmentFor(options.database_url);
  const runs: DropRun[] = [];
  try {
    for (const mode of ['first_come', 'waiting_room'] as const) {
      const strategy = await environment.stockhold(
        mode,
        options.parameters.hold_seconds,
        SALE_START_MS - DROP_TIMING.open_before_start_ms,
        options.concurrency,
      );
      try {
        await strategy.setup(script.skus);
        options.on_start?.(mode);
        runs.push(
          await runDrop(mode, strategy, script, {
            concurrency: options.concurrency,
            signal: options.signal,
            on_step: (simulated_s) => options.on_step?.(mode, simulated_s),
          }),
        );
      } finally {
        await strategy.close();
        await environment.release(mode);
      }
    }
    return {
      parameters: script.parameters,
      drop: options.drop,
      database: options.database_url ? 'postgres' : 'sqlite',
      concurrency: options.concurrency,
      started_at,
      runs,
    };
  } finally {
    await environment.dispose();
  }
}
