// stockhold simulate: the 12.12 flash sale replayed against the legacy store and stockhold, side by
// side; prints the table, optionally writes the HTML report. Exits 1 if stockhold ever oversold.
// With --drop: the sale's hot SKUs as a drop, first-come and through the waiting room, with a share
// of the shoppers scripts.
import { writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import cliProgress from 'cli-progress';
import { type Command, InvalidArgumentError } from 'commander';
import { assert } from '../../core/errors.ts';
import { formatDropParameters, formatDropTable, renderDropHtml } from '../../simulate/drop-report.ts';
import { DROP_MODE_LABELS } from '../../simulate/drop-runner.ts';
import {
  DEFAULT_DROP_PARAMETERS,
  type DropParameters,
  validateDropParameters,
} from '../../simulate/drop-script.ts';
import { formatParameters, formatTable, renderHtml } from '../../simulate/report.ts';
import { DEFAULT_PARAMETERS, type SimulationParameters, validateParameters } from '../../simulate/script.ts';
import type { DropSimulationResult, SimulationOptions, SimulationResult } from '../../simulate/simulation.ts';
import { checkDatabase, run } from '../common.ts';

const integer = (value: string) => {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('not a whole number');
  return Number(value);
};
const share = (value: string) => {
  const parsed = Number(value);
  if (value.trim() === '' || !Number.isFinite(parsed)) throw new InvalidArgumentError('not a number');
  return parsed;
};

/** Option name, parameter it sets, parser, help. */
const PARAMETER_OPTIONS: [string, keyof SimulationParameters, (value: string) => number, string][] = [
  ['--seed <n>', 'seed', integer, 'seed of the shopper script: the same seed replays the same sale'],
  ['--shoppers <n>', 'shoppers', integer, 'shoppers in the sale'],
  ['--skus <n>', 'skus', integer, 'SKUs on sale'],
  ['--hot-skus <n>', 'hot_skus', integer, 'flash-sale SKUs (small stock, most of the demand)'],
  ['--hot-stock <n>', 'hot_stock', integer, 'units of each hot SKU'],
  ['--cold-stock <n>', 'cold_stock', integer, 'units of each other SKU'],
  ['--hot-demand-share <x>', 'hot_demand_share', share, 'share of shoppers who want a hot SKU'],
  ['--burst-share <x>', 'burst_share', share, 'share of shoppers arriving at 00:00:00'],
  ['--arrival-mean-seconds <n>', 'arrival_mean_seconds', integer, 'mean arrival time of the others'],
  ['--hold-seconds <n>', 'hold_seconds', integer, 'payment deadline of a stockhold hold (simulated seconds)'],
  ['--payment-median-seconds <n>', 'payment_median_seconds', integer, 'median payment delay'],
  ['--abandon-share <x>', 'abandon_share', share, 'share who check out and never pay'],
  ['--cancel-share <x>', 'cancel_share', share, 'share who cancel'],
  ['--late-share <x>', 'late_share', share, 'share who pay after their deadline'],
  ['--extend-share <x>', 'extend_share', share, 'share of the late payers who extend their hold once'],
];

/** What commander hands the action: the options below, and each of PARAMETER_OPTIONS by its camelCase name. */
interface SimulateOptions {
  concurrency: number;
  databaseUrl?: string;
  report?: string;
  json?: string;
  progress: boolean;
  drop?: boolean;
  scriptShare: number;
  admissionPerSecond: number;
  admissionSeconds: number;
  [parameter: string]: unknown;
}

type Simulate = (options: SimulationOptions) => Promise<SimulationResult>;

export function registerSimulate(program: Command): void {
  const command = program
    .command('simulate')
    .description('replay a 12.12 flash sale against the legacy store and stockhold, side by side');
  for (const [flags, key, parse, help] of PARAMETER_OPTIONS)
    command.option(flags, help, parse, DEFAULT_PARAMETERS[key]);
  command
    .option('--concurrency <n>', 'requests in flight at once, for both strategies', integer, 200)
    .option(
      '--database-url <url>',
      'postgres://... to run both strategies in fresh schemas there (default: SQLite files in a temporary directory)',
    )
    .option('--report <file>', 'write a self-contained HTML report with the charts')
    .option('--json <file>', 'write the full result (metrics, per-SKU outcomes, series) as JSON')
    .option('--no-progress', 'no progress bar')
    .option(
      '--drop',
      "run the sale's hot SKUs as a drop, first-come and through the waiting room, with a share of scripts",
    )
    .option(
      '--script-share <x>',
      'with --drop: share of the shoppers that are scripts',
      share,
      DEFAULT_DROP_PARAMETERS.script_share,
    )
    .option(
      '--admission-per-second <n>',
      "with --drop: the waiting room's admissions per second",
      integer,
      DEFAULT_DROP_PARAMETERS.admission_per_second,
    )
    .option(
      '--admission-seconds <n>',
      'with --drop: how long an admission lasts',
      integer,
      DEFAULT_DROP_PARAMETERS.admission_seconds,
    )
    .action((options: SimulateOptions) => run(() => simulateCommand(options)));
}

async function simulateCommand(options: SimulateOptions): Promise<number> {
  // Loaded here, not at start-up: it brings the whole server with it.
  const { CONCURRENCY_MAX, simulate } = await import('../../simulate/simulation.ts');
  const parameters = parametersFrom(options);
  const drop: DropParameters = {
    script_share: options.scriptShare,
    admission_per_second: options.admissionPerSecond,
    admission_seconds: options.admissionSeconds,
  };
  const problems = [...validateParameters(parameters), ...(options.drop ? validateDropParameters(drop) : [])];
  if (options.concurrency < 1 || options.concurrency > CONCURRENCY_MAX)
    problems.push(`concurrency must be in 1..${CONCURRENCY_MAX}`);
  if (options.databaseUrl !== undefined && !/^postgres(ql)?:\/\//.test(options.databaseUrl))
    problems.push('--database-url must be a postgres:// URL (SQLite is the default)');
  if (problems.length > 0) {
    process.stderr.write(`stockhold: invalid simulation: ${problems.join('; ')}\n`);
    return 2;
  }
  // A wrong password or unknown database ends here in one line, before any output.
  if (options.databaseUrl !== undefined) {
    const { databaseLocation } = await import('../../config.ts');
    await checkDatabase(databaseLocation({ DATABASE_URL: options.databaseUrl }));
  }
  if (options.drop) return dropCommand(parameters, drop, options);
  process.stdout.write(
    `simulating ${formatParameters(parameters, options.databaseUrl ? 'postgres' : 'sqlite', options.concurrency)}\n`,
  );
  const result = await simulateWithProgress(simulate, parameters, options);
  if (result === null) return 130;
  process.stdout.write(`\n${formatTable(result)}\n`);
  if (!writeOutputs(() => renderHtml(result), result, options)) return 2;
  const stockhold = result.runs.find((each) => each.strategy === 'stockhold');
  assert(stockhold !== undefined, 'simulate() returns a run of each strategy');
  const fixed = stockhold.metrics;
  if (fixed.oversold_units > 0 || fixed.min_stock < 0 || (fixed.audit_problems?.length ?? 0) > 0) {
    process.stderr.write('stockhold: FAILED: stockhold oversold or its audit found problems\n');
    return 1;
  }
  return 0;
}

async function dropCommand(
  parameters: SimulationParameters,
  drop: DropParameters,
  options: SimulateOptions,
): Promise<number> {
  const { simulateDrop } = await import('../../simulate/simulation.ts');
  const database = options.databaseUrl ? 'postgres' : 'sqlite';
  process.stdout.write(
    `simulating ${formatDropParameters({ parameters, drop, database, concurrency: options.concurrency })}\n`,
  );
  const result = await interruptible((signal) =>
    simulateDrop({
      parameters,
      drop,
      database_url: options.databaseUrl,
      concurrency: options.concurrency,
      signal,
      // Only on a terminal: piped output (CI, tests) gets the table alone.
      on_start: (mode) => {
        if (options.progress === true && process.stderr.isTTY === true)
          process.stderr.write(` ${DROP_MODE_LABELS[mode]}...\n`);
      },
    }),
  );
  if (result === null) return 130;
  process.stdout.write(`\n${formatDropTable(result)}\n`);
  if (!writeOutputs(() => renderDropHtml(result), result, options)) return 2;
  const failed = result.runs.filter(
    ({ metrics }) =>
      metrics.oversold_units > 0 || metrics.miscounted_units > 0 || metrics.audit_problems.length > 0,
  );
  if (failed.length > 0) {
    process.stderr.write('stockhold: FAILED: stockhold oversold or its audit found problems\n');
    return 1;
  }
  return 0;
}

function parametersFrom(options: SimulateOptions): SimulationParameters {
  const parameters = { ...DEFAULT_PARAMETERS } as SimulationParameters;
  for (const [, key] of PARAMETER_OPTIONS) {
    const option = key.replace(/_([a-z])/g, (_, letter: string) => letter.toUpperCase());
    // Each PARAMETER_OPTIONS has a number parser and a number default.
    parameters[key] = options[option] as number;
  }
  return parameters;
}

/** Runs the simulation with progress bars on a terminal; null when Ctrl-C stopped it (said on stderr). */
async function simulateWithProgress(
  simulate: Simulate,
  parameters: SimulationParameters,
  options: SimulateOptions,
): Promise<SimulationResult | null> {
  // Only on a terminal: piped output (CI, tests) gets the table alone.
  const show_progress = options.progress === true && process.stderr.isTTY === true;
  const bars = new cliProgress.MultiBar(
    {
      format: ' {strategy} |{bar}| {value}/{total} shopper actions',
      hideCursor: true,
      clearOnComplete: false,
    },
    cliProgress.Presets.shades_classic,
  );
  const bar_of = new Map<string, cliProgress.SingleBar>();
  try {
    return await interruptible((signal) =>
      simulate({
        parameters,
        database_url: options.databaseUrl,
        concurrency: options.concurrency,
        on_start: (strategy, total) => {
          if (show_progress) bar_of.set(strategy, bars.create(total, 0, { strategy: strategy.padEnd(9) }));
        },
        on_progress: (strategy, done) => bar_of.get(strategy)?.update(done),
        signal,
      }),
    );
  } finally {
    if (show_progress) bars.stop();
  }
}

/**
 * Runs a simulation with Ctrl-C wired to its signal: it stops between two simulated steps, so the
 * temporary databases are still removed. Null when Ctrl-C stopped it (said on stderr).
 */
async function interruptible<T>(work: (signal: AbortSignal) => Promise<T>): Promise<T | null> {
  const interrupt = new AbortController();
  const onInterrupt = () => interrupt.abort(new Error('interrupted'));
  process.once('SIGINT', onInterrupt);
  try {
    return await work(interrupt.signal);
  } catch (error) {
    if (!interrupt.signal.aborted) throw error;
    process.stderr.write('\nstockhold: simulation interrupted; its databases were removed\n');
    return null;
  } finally {
    process.removeListener('SIGINT', onInterrupt);
  }
}

/** Writes the --report and --json files asked for; false (said on stderr) when one cannot be written. */
function writeOutputs(
  render_html: () => string,
  result: SimulationResult | DropSimulationResult,
  options: SimulateOptions,
): boolean {
  const outputs: [string | undefined, () => string][] = [
    [options.report, render_html],
    [options.json, () => `${JSON.stringify(result, null, 2)}\n`],
  ];
  for (const [file, render] of outputs) {
    if (file === undefined) continue;
    const path = resolve(file);
    try {
      writeFileSync(path, render());
    } catch (error) {
      process.stderr.write(`stockhold: cannot write ${path}: ${(error as Error).message}\n`);
      return false;
    }
    process.stdout.write(`\nwrote ${path}\n`);
  }
  return true;
}
