// `stockhold simulate` as a user runs it: the table on stdout and a report that opens offline.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStockhold } from '../support/cli.ts';
import { SIMULATION_TIMEOUT_MS, SMALL_SALE } from './support.ts';

const stockhold = (args: string[]) => runStockhold(args);

const SMALL_ARGS = [
  ['--seed', SMALL_SALE.seed],
  ['--shoppers', 150],
  ['--skus', SMALL_SALE.skus],
  ['--hot-skus', SMALL_SALE.hot_skus],
  ['--hot-stock', 10],
  ['--cold-stock', SMALL_SALE.cold_stock],
  ['--arrival-mean-seconds', SMALL_SALE.arrival_mean_seconds],
  ['--hold-seconds', SMALL_SALE.hold_seconds],
  ['--payment-median-seconds', SMALL_SALE.payment_median_seconds],
].flatMap(([flag, value]) => [String(flag), String(value)]);

/** The small drop of test/simulate/drop.test.ts, as options. */
const SMALL_DROP_ARGS = [
  ['--seed', SMALL_SALE.seed],
  ['--shoppers', 600],
  ['--hot-skus', SMALL_SALE.hot_skus],
  ['--hot-stock', 50],
  ['--hold-seconds', SMALL_SALE.hold_seconds],
  ['--payment-median-seconds', SMALL_SALE.payment_median_seconds],
  ['--script-share', 0.2],
].flatMap(([flag, value]) => [String(flag), String(value)]);

describe('stockhold simulate', () => {
  it('prints both strategies side by side and writes a self-contained report with the charts data', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-cli-'));
    try {
      const report = join(directory, 'report.html');
      const { code, stdout, stderr } = await stockhold(['simulate', ...SMALL_ARGS, '--report', report]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toMatch(/^\s+legacy\s+stockhold$/m);
      const oversold = stdout.match(/^oversold units\s+(\d+)\s+(\d+)$/m);
      expect(Number(oversold?.[1])).toBeGreaterThan(0);
      expect(Number(oversold?.[2])).toBe(0);
      expect(stdout).toMatch(/^audit \(buckets vs ledger, holds, orders\)\s+no ledger\s+OK$/m);
      // Slow payers extend their holds with stockhold; the legacy store has none to extend.
      expect(stdout).toMatch(/^holds extended once \(slow payment\)\s+0\s+[1-9]\d*$/m);

      const html = readFileSync(report, 'utf8');
      // Nothing to fetch: no external script, stylesheet or link (uPlot's licence comment names its home).
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|(src|href)=["']?https?:/);
      expect(html).toContain('uPlot');
      const embedded = html.match(/<script type="application\/json" id="simulation-data">(.*?)<\/script>/s);
      const data = JSON.parse(embedded![1]!);
      expect(data.parameters.seed).toBe(SMALL_SALE.seed);
      expect(data.skus.map((sku: { sku: string }) => sku.sku)).toEqual(['HOT-01', 'HOT-02']);
      for (const sku of data.skus) {
        expect(Object.keys(sku.strategies)).toEqual(['legacy', 'stockhold']);
        expect(sku.strategies.legacy.available).toHaveLength(data.time_s.length);
        expect(Math.min(...sku.strategies.stockhold.available)).toBeGreaterThanOrEqual(0);
      }
      expect(
        Math.min(...data.skus.flatMap((sku: any) => sku.strategies.legacy.true_left as number[])),
      ).toBeLessThan(0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('refuses parameters out of range with one line naming them', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const { code, stdout, stderr } = await stockhold(['simulate', '--abandon-share', '1.5']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe(
      'stockhold: invalid simulation: abandon_share must be a share in 0..1 (got 1.5); ' +
        'abandon_share + cancel_share + late_share must not exceed 1',
    );
  });

  it('--drop prints first-come and the waiting room side by side, and writes their report', {
    timeout: SIMULATION_TIMEOUT_MS,
  }, async () => {
    const directory = mkdtempSync(join(tmpdir(), 'stockhold-simulate-cli-'));
    try {
      const report = join(directory, 'drop.html');
      const { code, stdout, stderr } = await stockhold([
        'simulate',
        '--drop',
        ...SMALL_DROP_ARGS,
        '--report',
        report,
      ]);
      expect(stderr).toBe('');
      expect(code).toBe(0);
      expect(stdout).toMatch(
        /^simulating seed 42: a drop of 2 SKUs with 50 units each, 600 shoppers, 20% of them scripts/m,
      );
      expect(stdout).toMatch(/^\s+first-come\s+waiting room$/m);
      expect(stdout).toMatch(/^scripts' share of shoppers\s+20\.0% \(120\)\s+20\.0% \(120\)$/m);
      const admitted = stdout.match(/^scripts' share of tickets admitted\s+-\s+([\d.]+)% \(\d+\)$/m);
      expect(Math.abs(Number(admitted?.[1]) - 20)).toBeLessThan(10);
      const units = stdout.match(/^scripts' share of units sold\s+([\d.]+)% \(\d+\)\s+([\d.]+)% \(\d+\)$/m);
      expect(Number(units?.[1])).toBeGreaterThan(80);
      expect(Number(units?.[2])).toBeLessThan(Number(units?.[1]) - 25);
      expect(stdout).toMatch(/^time to admission p50 \/ p99\s+-\s+[\d.]+ s \/ [\d.]+ s$/m);
      expect(stdout).toMatch(/^units left unsold\s+\d+\s+\d+$/m);
      expect(stdout).toMatch(/^checkouts refused\s+[\d,]+\s+[\d,]+$/m);
      expect(stdout).toMatch(/^oversold units\s+0\s+0$/m);
      expect(stdout).toMatch(/^audit \(buckets vs ledger, holds, orders\)\s+OK\s+OK$/m);

      const html = readFileSync(report, 'utf8');
      expect(html).not.toMatch(/<script[^>]+src=|<link[^>]+href=|(src|href)=["']?https?:/);
      const embedded = html.match(
        /<script type="application\/json" id="drop-simulation-data">(.*?)<\/script>/s,
      );
      const data = JSON.parse(embedded![1]!);
      expect(data.runs.map((run: { mode: string }) => run.mode)).toEqual(['first_come', 'waiting_room']);
      expect(data.runs[0].script_share_of_units).toBeGreaterThan(0.8);
      expect(data.runs[1].script_share_of_units).toBeLessThan(data.runs[0].script_share_of_units);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('--drop refuses a share of scripts out of range with one line', async () => {
    const { code, stdout, stderr } = await stockhold(['simulate', '--drop', '--script-share', '2']);
    expect(code).toBe(2);
    expect(stdout).toBe('');
    expect(stderr.trim()).toBe('stockhold: invalid simulation: script_share must be a share in 0..1 (got 2)');
  });
});
