// What the CLI tests against a running server share: a clean environment and the shape of a refusal.
import { expect } from 'vitest';
import type { CliResult } from '../support/cli.ts';

/** The test's environment without the variables that would point a command elsewhere. */
export function cleanEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const clean: NodeJS.ProcessEnv = { ...process.env };
  for (const key of ['STOCKHOLD_URL', 'STOCKHOLD_API_KEY', 'DATABASE_URL', 'STOCKHOLD_CONFIG'])
    delete clean[key];
  return { ...clean, ...env };
}

/** An API refusal: exit 1, `stockhold: error <code>: ...` first, a details line at most, no stack. */
export function expectApiError(result: CliResult, code: string): string {
  expect(result.code, result.stderr).toBe(1);
  expect(result.stderr).toMatch(new RegExp(`^stockhold: error ${code}: `));
  expect(result.stderr).not.toMatch(/\n\s+at /);
  expect(result.stderr.trimEnd().split('\n').length).toBeLessThanOrEqual(2);
  return result.stderr;
}
