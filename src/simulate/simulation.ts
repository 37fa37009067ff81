// One simulation: the shopper script from the seed, a fresh database for each strategy (a temporary
// SQLite directory, or two new schemas in the PostgreSQL database given), both runs, clean-up.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { redactUrl } from '../config.ts';
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
  legacy(): Strategy;
  stockhold(hold_seconds: number, start_ms: number, sockets_max: number): Promise<StockholdStrategy>;
  dispose(): Promise<void>;
}

function sqliteEnvironment(): Environment {
  const directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-'));
  const stockhold_path = join(directory, 'stockhold.db');
  return {
    legacy: () => new LegacyStrategy(openLegacySqlite(join(directory, 'legacy.db'))),
    stockhold: (hold_seconds, start_ms, sockets_max) =>
      StockholdStrategy.start({
        database_url: `sqlite:${stockhold_path}`,
        location: `SQLite file ${stockhold_path}`,
        hold_seconds,
        start_ms,
        sockets_max,
      }),
    async dispose() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** Two fresh schemas in the given database, dropped at the end: the user's own tables stay untouched. */
async function postgresEnvironment(url: string): Promise<Environment> {
  const suffix = `${process.pid}_${Date.now().toString(36)}`;
  const schemas = { legacy: `simulate_legacy_${suffix}`, stockhold: `simulate_stockhold_${suffix}` };
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    for (const schema of Object.values(schemas)) await admin.query(`CREATE SCHEMA "${schema}"`);
  } finally {
    await admin.end();
  }
  const display = redactUrl(url);
  const stockhold_url = new URL(url);
  stockhold_url.searchParams.set('options', `-c search_path=${schemas.stockhold}`);
  return {
    legacy: () => new LegacyStrategy(openLegacyPostgres(url, schemas.legacy, display)),
    stockhold: (hold_seconds, start_ms, sockets_max) =>
      StockholdStrategy.start({
        database_url: stockhold_url.toString(),
        location: `PostgreSQL ${display}, schema ${schemas.stockhold}`,
        hold_seconds,
        start_ms,
        sockets_max,
      }),
    async dispose() {
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        for (const schema of Object.values(schemas))
          await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
      } finally {
        await client.end();
      }
    },
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

export async function simulate(options: SimulationOptions): Promise<SimulationResult> {
  if (
    !Number.isInteger(options.concurrency) ||
    options.concurrency < 1 ||
    options.concurrency > CONCURRENCY_MAX
  )
    throw new RangeError(`concurrency must be an integer in 1..${CONCURRENCY_MAX}`);
  const script = generateScript(options.parameters);
  const started_at = new Date().toISOString();
  const environment = options.database_url
    ? await postgresEnvironment(options.database_url)
    : sqliteEnvironment();
  try {
    // One after the other, not side by side: each strategy gets the whole machine.
    const legacy = await runOne(environment.legacy(), options, script);
    const stockhold = await runOne(
      await environment.stockhold(options.parameters.hold_seconds, SALE_START_MS, options.concurrency),
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
