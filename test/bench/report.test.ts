// How the bench judges the ceiling target: against the ceiling run just before the case and the
// run's median ceiling both, so one slow ceiling run (the machine's speed drifts) cannot make it.
import { expect, it } from 'vitest';
import { type CaseResult, ceilingSpread, evaluateTargets, medianCeiling } from '../../bench/report.ts';

function measured(mode: CaseResult['mode'], checkouts_per_second: number, ceiling?: number): CaseResult {
  return {
    workload: 'hot',
    mode,
    store: mode === 'ceiling' ? null : 'sqlite',
    ceiling_checkouts_per_second: ceiling ?? null,
    checkouts_per_second,
    requests_total: checkouts_per_second,
    successes: checkouts_per_second,
    p50_ms: 10,
    p99_ms: 20,
    max_ms: 30,
    errors: 0,
    status_codes: {},
    rss_before_bytes: 1,
    rss_after_bytes: 1,
    duration_seconds: 1,
    cpu_us_per_request: { server: 1, load_generator: 1, other: 0 },
  };
}

const ceilingTarget = (cases: CaseResult[]) =>
  evaluateTargets(cases, [], [], ['sqlite']).find((target) => target.target.includes('no-op ceiling'))!;

it('takes the median of the ceiling runs', () => {
  expect(medianCeiling([measured('ceiling', 30), measured('ceiling', 10), measured('ceiling', 20)])).toBe(20);
  expect(medianCeiling([measured('ceiling', 30), measured('ceiling', 10)])).toBe(20);
  expect(medianCeiling([measured('coalesced', 5, 10)])).toBeNull();
});

it('reports how far the ceiling runs lie apart: how much the machine moved during the run', () => {
  const cases = [
    measured('ceiling', 30_000),
    measured('coalesced', 11_000, 30_000),
    measured('ceiling', 15_000),
    measured('ceiling', 20_000),
  ];
  expect(ceilingSpread(cases)).toEqual({ runs: 3, slowest: 15_000, fastest: 30_000, median: 20_000 });
  expect(ceilingSpread([measured('coalesced', 5, 10)])).toBeNull();
});

it('does not count the ceiling target met against one slow ceiling run', () => {
  const slow_before = [
    measured('ceiling', 26_000),
    measured('ceiling', 20_000),
    measured('coalesced', 11_000, 20_000),
    measured('ceiling', 26_000),
  ];
  expect(ceilingTarget(slow_before)).toMatchObject({ met: false });
  expect(ceilingTarget(slow_before).measured).toContain('55% of the one before');
  expect(ceilingTarget(slow_before).measured).toContain('42% of the median');

  const both = [
    measured('ceiling', 20_000),
    measured('coalesced', 11_000, 20_000),
    measured('ceiling', 21_000),
  ];
  expect(ceilingTarget(both)).toMatchObject({ met: true });
});

it("judges the read and health cases against their own ceilings: 70% and 80%, with each one's CPU", () => {
  const of = (
    workload: CaseResult['workload'],
    mode: CaseResult['mode'],
    rate: number,
    ceiling?: number,
  ) => ({
    ...measured(mode, rate, ceiling),
    workload,
  });
  const cases = [
    of('health', 'ceiling', 60_000),
    of('health', 'coalesced', 45_000, 60_000),
    of('read', 'ceiling', 58_000),
    of('read', 'coalesced', 42_000, 58_000),
    // Slow POST ceilings: a GET case is never judged against their median.
    of('hot', 'ceiling', 20_000),
    of('hot', 'coalesced', 11_000, 20_000),
  ];
  const targets = evaluateTargets(cases, [], [], ['sqlite']);
  const target = (name: string) => targets.find((t) => t.target.startsWith(name));
  expect(target('healthz, sqlite: >= 80%')).toMatchObject({ met: false });
  expect(target('healthz, sqlite: >= 80%')?.measured).toContain('75% of the median (60,000/s)');
  expect(target('SKU read, sqlite: >= 70%')).toMatchObject({ met: true });
  expect(target('SKU read, sqlite: >= 70%')?.measured).toContain('server CPU 1 µs/request');
  expect(target('hot SKU, sqlite: >= 50%')).toMatchObject({ met: true });
  for (const name of ['hot SKU', 'SKU read', 'healthz'])
    expect(target(`${name}, sqlite: coalesced p99 <= 50 ms`)).toMatchObject({ met: true });
});
