// The stockhold command as a user runs it: a child process, its exit code and output (never a throw).
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';

export const STOCKHOLD_BIN = join(import.meta.dirname, '../../bin/stockhold.mjs');

const run = promisify(execFile);

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `stockhold <args>` with `env` as its whole environment (the test's own by default). */
export async function runStockhold(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<CliResult> {
  try {
    const { stdout, stderr } = await run(process.execPath, [STOCKHOLD_BIN, ...args], {
      env,
      // `verify --json` of a large database prints megabytes.
      maxBuffer: 64 * 1024 * 1024,
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: unknown; stdout?: string; stderr?: string };
    // Not an exit code: the command could not be run at all (a test set-up error).
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout ?? '', stderr: failed.stderr ?? '' };
  }
}
