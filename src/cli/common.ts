// What every CLI command shares: reading the configuration and ending with a clear message.
import type { Command } from 'commander';
import { type Config, ConfigError, loadConfig } from '../config.ts';
import { StartupError } from '../server.ts';

export interface DatabaseOptions {
  databaseUrl?: string;
  config?: string;
}

export function configFrom(options: DatabaseOptions & { port?: string; host?: string }): Config {
  const env = { ...process.env };
  if (options.port !== undefined) env.PORT = options.port;
  if (options.host !== undefined) env.HOST = options.host;
  if (options.databaseUrl !== undefined) env.DATABASE_URL = options.databaseUrl;
  return loadConfig(env, options.config ?? env.STOCKHOLD_CONFIG);
}

/** Adds --database-url and --config to a command. */
export function withDatabaseOptions(command: Command): Command {
  return command
    .option('--database-url <url>', 'sqlite:<path>, sqlite::memory: or postgres://user:password@host:5432/db')
    .option('--config <file>', 'a JSON file with the same keys as the environment variables');
}

/** Expected failures (bad config, unreachable database) end with one clear line, not a stack trace. */
export async function run(action: () => Promise<number | undefined>): Promise<void> {
  try {
    const code = await action();
    if (code !== undefined) process.exitCode = code;
  } catch (error) {
    if (error instanceof ConfigError || error instanceof StartupError) {
      process.stderr.write(`stockhold: ${error.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw error;
  }
}
