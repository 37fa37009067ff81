// What every CLI command shares: reading the configuration, opening the database it names (never
// creating one by accident), parsing numbers, and ending with one clear line instead of a stack trace.
//
// The configuration schema, the server and the database drivers are imported only when a command
// needs them: loaded up front they cost seconds of start-up to `--version` and every HTTP command.
import { existsSync } from 'node:fs';
import { type Command, InvalidArgumentError } from 'commander';
import type { Config, DatabaseLocation } from '../config.ts';
import type { KyselyStore } from '../store/kysely-store.ts';

/** A PostgreSQL server that accepts the connection but never answers must not hang the command. */
const CONNECT_TIMEOUT_MS = 10_000;
/** PostgreSQL's "database does not exist" (invalid_catalog_name). */
const PG_DATABASE_MISSING = '3D000';
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
  const { openMigratedStore, StartupError } = await import('../server.ts');
  const { SQLITE_MEMORY } = await import('../store/sqlite/sqlite-store.ts');
  const config = await configFrom(options);
  const location = databaseLocation(config);
  const where = await describeDatabase(location);
  let created: boolean;
  if (location.kind === 'sqlite') {
    // openSqliteStore makes the file (and its directory) when it is missing.
    created = location.path !== SQLITE_MEMORY && !existsSync(location.path);
    if (created && !create)
      throw new StartupError(
        `${where} does not exist: check --database-url (or DATABASE_URL), or ${CREATE_HINT} (or start the server once: npm start)`,
      );
  } else {
    created = await checkPostgres(location.url, { create });
  }
  const store = await openMigratedStore(config);
  process.stderr.write(`stockhold: ${created ? 'created' : 'using'} ${where}\n`);
  return store;
}

/**
 * Connects once to the PostgreSQL database of `url`, to fail early with one line naming it (bad
 * password, unknown user, nothing listening); with `create`, creates the database when it is the one
 * thing missing. Returns whether it created it.
 */
export async function checkPostgres(url: string, { create = false } = {}): Promise<boolean> {
  const { redactUrl } = await import('../config.ts');
  const { StartupError } = await import('../server.ts');
  const where = `PostgreSQL at ${redactUrl(url)}`;
  try {
    await connectOnce(url);
    return false;
  } catch (error) {
    const missing = (error as { code?: string }).code === PG_DATABASE_MISSING;
    if (!missing || !create) {
      const hint = missing ? `; ${CREATE_HINT}` : '';
      throw new StartupError(`cannot open the database (${where}): ${errorText(error)}${hint}`);
    }
  }
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.slice(1));
  // CREATE DATABASE runs from the server's maintenance database, with the same credentials.
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  try {
    await connectOnce(maintenance.toString(), `CREATE DATABASE "${name.replaceAll('"', '""')}"`);
  } catch (error) {
    throw new StartupError(`cannot create the database (${where}): ${errorText(error)}`);
  }
  return true;
}

async function connectOnce(url: string, statement = 'select 1'): Promise<void> {
  const { connectOnce: connect } = await import('../store/postgres/connect-once.ts');
  await connect(url, statement, CONNECT_TIMEOUT_MS);
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
