// What every CLI command shares: reading the configuration, opening the database it names (never
// creating one by accident), parsing numbers, and ending with one clear line instead of a stack trace.
//
// The configuration schema, the server and the database drivers are imported only when a command
// needs them: loaded up front they cost seconds of start-up to `--version` and every HTTP command.
import { type Command, InvalidArgumentError } from 'commander';
import type { Config, DatabaseLocation } from '../config.ts';
import type { KyselyStore } from '../store/kysely-store.ts';

const CREATE_HINT = 'create it with `stockhold migrate --create`';

export interface DatabaseOptions {
  databaseUrl?: string;
  config?: string;
}

/**
 * An expected failure with its own exit code: run() prints its message, one line or a few, and
 * exits with it (1: the operation was refused; 2: usage, configuration or an unreachable service).
 */
export class CliError extends Error {
  readonly exit_code: number;
  constructor(message: string, exit_code = 2) {
    super(message);
    this.name = 'CliError';
    this.exit_code = exit_code;
  }
}

/** Errors run() reports as one line (by name: their modules are loaded only by the commands that need them). */
const EXPECTED_ERRORS = new Set(['ConfigError', 'StartupError', 'CliError']);

export async function configFrom(
  options: DatabaseOptions & { port?: string; host?: string },
): Promise<Config> {
  const { loadConfig } = await import('../config.ts');
  const env = { ...process.env };
  if (options.port !== undefined) env.PORT = options.port;
  if (options.host !== undefined) env.HOST = options.host;
  if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
  return loadConfig(env, options.config ?? env.STOCKHOLD_CONFIG);
}

/** Adds --database-url and --config to a command. */
export function withDatabaseOptions(command: Command): Command {
  return command
    .option(
      '--database-url <url>',
      'sqlite:<path>, sqlite::memory: or postgres://user:password@host:5432/db (DATABASE_URL; default sqlite:./data/stockhold.db)',
    )
    .option('--config <file>', 'a JSON file with the same keys as the environment variables');
}

/** How messages name a database: the SQLite file's absolute path, or the URL without its password. */
export async function describeDatabase(location: DatabaseLocation): Promise<string> {
  const { describeLocation } = await import('../config.ts');
  return describeLocation(location, 'resolved');
}

/**
 * Opens and migrates the database the options name, for a command that works on an existing one:
 * a SQLite file or PostgreSQL database that does not exist is refused (a typo in the URL would
 * otherwise get a new empty database), unless `create` (`migrate --create`). Says on stderr which
 * database it used, so stdout stays clean for --json.
 */
export async function openDatabase(options: DatabaseOptions, { create = false } = {}): Promise<KyselyStore> {
  const { databaseLocation } = await import('../config.ts');
  const { openMigratedStore } = await import('../server.ts');
  const config = await configFrom(options);
  const location = databaseLocation(config);
  const created = await checkDatabase(location, { create });
  const store = await openMigratedStore(config);
  process.stderr.write(`stockhold: ${created ? 'created' : 'using'} ${await describeDatabase(location)}\n`);
  return store;
}

/**
 * Fails early with one line naming the database when it does not exist (unless `create`, which makes
 * it) or cannot be opened (bad password, unknown user, nothing listening). Returns whether it made it.
 */
export async function checkDatabase(location: DatabaseLocation, { create = false } = {}): Promise<boolean> {
  const { ensureDatabaseExists } = await import('../store/open-store.ts');
  const { DatabaseNotReady } = await import('../store/dialect.ts');
  const { StartupError } = await import('../server.ts');
  try {
    return (await ensureDatabaseExists(location, create)) === 'created';
  } catch (error) {
    if (!(error instanceof DatabaseNotReady)) throw error;
    const where = await describeDatabase(location);
    const reason = error.cause === undefined ? null : errorText(error.cause);
    switch (error.reason) {
      case 'missing':
        throw new StartupError(
          reason === null
            ? `${where} does not exist: check --database-url (or DATABASE_URL), or ${CREATE_HINT} (or start the server once: npm start)`
            : `cannot open the database (${where}): ${reason}; ${CREATE_HINT}`,
        );
      case 'unreachable':
        throw new StartupError(`cannot open the database (${where}): ${reason}`);
      case 'create_failed':
        throw new StartupError(`cannot create the database (${where}): ${reason}`);
    }
  }
}

/** An error's message; a refused connection to a name with several addresses has none, only a code. */
export function errorText(error: unknown): string {
  const { message, code } = error as { message?: string; code?: string };
  return message || code || String(error);
}

/** A commander parser for a whole number in min..max, with a message naming the range. */
export function integerIn(min: number, max: number): (value: string) => number {
  return (value: string) => {
    const parsed = Number(value);
    if (!/^-?\d+$/.test(value.trim()) || parsed < min || parsed > max)
      throw new InvalidArgumentError(
        `must be a whole number in ${min}..${max} (got ${JSON.stringify(value)})`,
      );
    return parsed;
  };
}

/** Expected failures (bad config, unreachable database or server, refused request) end with a clear message, not a stack trace. */
export async function run(action: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await action();
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    if (error instanceof Error && EXPECTED_ERRORS.has(error.name)) {
      process.stderr.write(`stockhold: ${error.message}\n`);
      process.exitCode = error instanceof CliError ? error.exit_code : 2;
      return;
    }
    throw error;
  }
}
