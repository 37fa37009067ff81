// `npm run bench` end to end, tiny: every kind of case runs against real servers and databases
// (ceiling, naive and coalesced, the sweeper, the expiry storm, the RSS run) and the report is written with every
// target judged. The figures themselves are the bench's business, never a test's: this machine is
// shared and noisy. What is checked is that the numbers exist and make sense.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, expect, inject, it } from 'vitest';
import type { Report } from '../../bench/report.ts';

const ROOT = join(import.meta.dirname, '../..');
const results_dir = mkdtempSync(join(tmpdir(), 'stockhold-bench-test-'));
afterAll(() => rmSync(results_dir, { recursive: true, force: true }));

it('measures every case on SQLite and PostgreSQL and writes the JSON and markdown report', async () => {
  const args = [
    '--import',
    'tsx',
    'bench/run.ts',
    '--duration=1',
    '--connections=16',
    '--workloads=hot,limited',
    '--sweep-holds=2000',
    '--storm-holds=2000',
    '--rss-orders=2000',
    '--drop-tickets=500',
    `--results-dir=${results_dir}`,
  ];
  // The run's PostgreSQL (maybe the embedded one the global setup started) is the bench's too.
  const env = { ...process.env, STOCKHOLD_BENCH_PG_URL: inject('pg_admin_url') };
  await promisify(execFile)(process.execPath, args, { cwd: ROOT, env, maxBuffer: 16 * 1024 * 1024 });

  const json = readdirSync(results_dir).find((name) => name.endsWith('.json'));
  expect(json).toBeDefined();
  const report = JSON.parse(readFileSync(join(results_dir, json!), 'utf8')) as Report;
  // The servers and the sweeper ran as `npm start` runs the server, and the report says how.
  const start_script = (
    JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: { start: string } }
  ).scripts.start;
  expect(report.settings.node_flags?.length).toBeGreaterThan(0);
  expect(start_script).toBe(`node ${report.settings.node_flags!.join(' ')} bin/stockhold.mjs serve`);
  // Each case right after a ceiling run of its own, its ratio taken to that one.
  const each_workload = [
    'ceiling/-',
    'naive/sqlite',
    'ceiling/-',
    'coalesced/sqlite',
    'ceiling/-',
    'naive/postgres',
    'ceiling/-',
    'coalesced/postgres',
  ];
  expect(report.cases.map((c) => `${c.workload}/${c.mode}/${c.store ?? '-'}`)).toEqual([
    ...each_workload.map((name) => `hot/${name}`),
    ...each_workload.map((name) => `limited/${name}`),
  ]);
  report.cases.forEach((measured, index) => {
    expect(measured.errors, `${measured.mode}/${measured.store}`).toBe(0);
    expect(measured.checkouts_per_second).toBeGreaterThan(0);
    expect(measured.p99_ms).toBeGreaterThanOrEqual(measured.p50_ms);
    expect(measured.rss_after_bytes).toBeGreaterThan(0);
    // Every process that answers or asks used some CPU; PostgreSQL's share is only on its cases.
    expect(measured.cpu_us_per_request.server).toBeGreaterThan(0);
    expect(measured.cpu_us_per_request.load_generator).toBeGreaterThan(0);
    expect(measured.cpu_us_per_request.other).toBeGreaterThanOrEqual(0);
    if (measured.mode !== 'ceiling')
      expect(measured.ceiling_checkouts_per_second).toBe(report.cases[index - 1]!.checkouts_per_second);
  });
  expect(report.sweeper.map((run) => [run.store, run.holds, run.audit_problems])).toEqual([
    ['sqlite', 2000, 0],
    ['postgres', 2000, 0],
  ]);
  // The storm's holds fall due during the run and the server's own sweeper returns every one.
  expect(report.storm.map((run) => [run.store, run.holds, run.errors])).toEqual([
    ['sqlite', 2000, 0],
    ['postgres', 2000, 0],
  ]);
  for (const run of report.storm) expect(run.released_after_seconds).toBeGreaterThanOrEqual(0);
  // A drop: every ticket of the burst taken, admission under way, each position admitted once.
  expect(report.drops?.map((run) => [run.store, run.tickets, run.join_errors, run.exactly_once])).toEqual([
    ['sqlite', 500, 0, true],
    ['postgres', 500, 0, true],
  ]);
  for (const run of report.drops ?? []) expect(run.admitted_per_second).toBeGreaterThan(0);
  for (const run of report.rss) {
    expect(run.successes).toBe(2000);
    expect(run.rss_end_bytes).toBeGreaterThan(0);
  }
  // Every target is judged; the RSS one only over a million orders, so here it is "not checked".
  expect(report.targets.length).toBeGreaterThanOrEqual(8);
  expect(report.targets.filter((t) => t.met === null).map((t) => t.target)).toEqual([
    expect.stringContaining('RSS growth'),
    expect.stringContaining('RSS growth'),
  ]);
  const markdown = readFileSync(join(results_dir, 'latest.md'), 'utf8');
  expect(markdown).toContain('| target | measured | met |');
  expect(markdown).toContain(report.machine.cpu_model);
  expect(markdown).toContain('| CPU µs/request: server / load gen. / other | cores busy |');
  expect(markdown).toContain('| expiry storm (hot SKU, coalesced) |');
}, 300_000);
