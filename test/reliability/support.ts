// Shared by the reliability suite: the `stockhold verify` CLI as a test runs it, seeds and counts.
import { expect } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { VerifyReport } from '../../src/store/ledger-audit.ts';
import { runStockhold } from '../support/cli.ts';

export interface CliVerify {
  code: number;
  report: VerifyReport;
}

/** Runs `stockhold verify --json` on a database, as an operator would after an incident. */
export async function verifyCli(database_url: string): Promise<CliVerify> {
  const { code, stdout, stderr } = await runStockhold(['verify', '--json', '--database-url', database_url], {
    ...process.env,
    LOG_LEVEL: 'silent',
  });
  if (stdout === '') throw new Error(`stockhold verify printed no report (exit ${code}): ${stderr}`);
  return { code, report: JSON.parse(stdout) as VerifyReport };
}

/** `stockhold verify` exits 0 and lists no problem. */
export async function expectVerifiedByCli(database_url: string): Promise<VerifyReport> {
  const { code, report } = await verifyCli(database_url);
  expect(report.problems).toEqual([]);
  expect(code).toBe(0);
  return report;
}

/** The same checks in-process (cheaper, for checks between steps). */
export async function expectVerified(store: KyselyStore): Promise<VerifyReport> {
  const report = await store.verify();
  expect(report.problems).toEqual([]);
  return report;
}

/** An integer from the environment (soak runs turn the counts up), or the default. */
export function envCount(name: string, fallback: number): number {
  const value = process.env[name];
  if (value === undefined || value === '') return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) throw new Error(`${name} must be a non-negative integer`);
  return parsed;
}

/** The simulator's seeded PRNG (mulberry32): a failing run can be replayed from its seed. */
export { seededRandom } from '../../src/simulate/script.ts';

/** Prints a figure for the README (the suite's last run) in one greppable line. */
export function reportFigure(name: string, value: number | string): void {
  process.stdout.write(`[reliability] ${name}: ${value}\n`);
}
