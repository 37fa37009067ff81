// The stockhold command as a user runs it: a child process, its exit code and output (never a throw),
// or `stockhold serve` running in the background.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { expect } from 'vitest';
import { START_NODE_FLAGS } from '../../bench/processes.ts';

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

export interface ServeProcess {
  child: ChildProcess;
  url: string;
  /** Every line it printed so far, stdout and stderr, kept while it runs. */
  output: string[];
}

/**
 * Starts `stockhold serve` on a free port, with `env` over the test's own environment (LOG_LEVEL
 * info unless given), and resolves with its URL once it logs that it is serving. It runs with the
 * node flags `npm start` gives it unless others are given: then the process is the server itself,
 * and a SIGKILL is a crash of the server.
 */
export function startServe(
  env: Record<string, string>,
  timeout_ms = 120_000,
  node_flags: readonly string[] = START_NODE_FLAGS,
): Promise<ServeProcess> {
  const child = spawn(process.execPath, [...node_flags, STOCKHOLD_BIN, 'serve'], {
    env: { ...process.env, PORT: '0', LOG_LEVEL: 'info', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  createInterface({ input: child.stderr! }).on('line', (line) => output.push(line));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`stockhold serve did not report its URL in time:\n${output.join('\n')}`));
    }, timeout_ms);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`stockhold serve exited with ${code} before serving:\n${output.join('\n')}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      output.push(line);
      let entry: { msg?: string; url?: string };
      try {
        entry = JSON.parse(line);
      } catch {
        return; // not a log line
      }
      if (entry.msg === 'stockhold is serving' && entry.url) {
        clearTimeout(timer);
        resolve({ child, url: entry.url, output });
      }
    });
  });
}

/** The command failed as a user should see it: `code`, stderr one line (returned), no stack trace. */
export function expectOneLineFailure(result: CliResult, code = 2): string {
  expect(result.code, result.stderr).toBe(code);
  expect(result.stderr).not.toMatch(/\n\s+at /);
  const lines = result.stderr.trimEnd().split('\n');
  expect(lines).toHaveLength(1);
  expect(lines[0]).toMatch(/^stockhold: /);
  return lines[0]!;
}
