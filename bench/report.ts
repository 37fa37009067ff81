// Turns the measured cases into the markdown table the README shows, with each target met or not.

import type { DropBenchResult } from './drops.ts';
import { type LoadResult, type Mode, WORKLOADS, type Workload } from './load.ts';
import type { StormResult } from './storm.ts';
import type { SweepResult } from './sweep.ts';

export type StoreName = 'sqlite' | 'postgres';

export interface CaseResult extends LoadResult {
  workload: Workload;
  mode: Mode;
  /** null for the ceiling, which has no store. */
  store: StoreName | null;
  /** The ceiling measured just before this case (none for the ceiling itself, or without one). */
  ceiling_checkouts_per_second?: number | null;
}

export interface RssResult {
  store: StoreName;
  orders: number;
  successes: number;
  errors: number;
  checkouts_per_second: number;
  rss_start_bytes: number;
  rss_warm_bytes: number;
  rss_end_bytes: number;
  rss_max_bytes: number;
  /** From the end of the warm-up (the first tenth of the orders) to the end. */
  growth_bytes: number;
}

export interface StormRun extends StormResult {
  store: StoreName;
}

export interface DropRun extends DropBenchResult {
  store: StoreName;
}

export interface Machine {
  cpu_model: string;
  cores: number;
  memory_gb: number;
  node: string;
  platform: string;
  load_average_start: number[];
  load_average_end: number[];
}

export interface Settings {
  connections: number;
  duration_seconds: number;
  stores: StoreName[];
  batch_size_max: number;
  sweep_holds: number;
  sweep_skus: number;
  sweep_batch_size: number;
  storm_holds: number;
  rss_orders: number;
  /** Tickets of the drop case (absent in results before 2026-12-03). */
  drop_tickets?: number;
  /** Node flags every measured server ran with (`npm start`'s); absent in results before 2026-11-30. */
  node_flags?: readonly string[];
  /** Whether the servers required an API key on every request (absent in results before 2026-12-03). */
  api_keys?: boolean;
}

export interface Target {
  target: string;
  measured: string;
  met: boolean | null;
}

export interface Report {
  started_at: string;
  finished_at: string;
  machine: Machine;
  settings: Settings;
  cases: CaseResult[];
  sweeper: SweepResult[];
  storm: StormRun[];
  rss: RssResult[];
  /** Absent in results before 2026-12-03. */
  drops?: DropRun[];
  targets: Target[];
}

const P99_MAX_MS = 50;
/** Issue 21: the share of its own no-op ceiling each workload must reach (stockhold as shipped). */
const CEILING_RATIO_MIN: Partial<Record<Workload, number>> = { hot: 0.5, read: 0.7, health: 0.8 };
const NAIVE_RATIO_MIN_POSTGRES = 5;
const RSS_GROWTH_MAX_BYTES = 50 * 1024 * 1024;
const RELEASES_PER_SECOND_MIN = 50_000;

const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(0);
const rate = (value: number) => Math.round(value).toLocaleString('en-US');

/** A case's share of the no-op ceiling measured just before it; the ceiling's own is 1. */
export function ceilingRatio(measured: CaseResult): number | null {
  if (measured.mode === 'ceiling') return 1;
  const ceiling = measured.ceiling_checkouts_per_second;
  return ceiling ? measured.checkouts_per_second / ceiling : null;
}

/** Cores the case kept busy: its requests per second times the CPU each one took, everywhere. */
export function coresBusy(measured: CaseResult): number {
  const cpu = measured.cpu_us_per_request;
  const requests_per_second = measured.requests_total / measured.duration_seconds;
  return (requests_per_second * (cpu.server + cpu.load_generator + cpu.other)) / 1e6;
}

/** The median of every ceiling run of the report: what one slow or fast ceiling run is judged against. */
export function medianCeiling(cases: readonly CaseResult[]): number | null {
  const rates = cases
    .filter((c) => c.mode === 'ceiling')
    .map((c) => c.checkouts_per_second)
    .sort((a, b) => a - b);
  // The middle one, or the mean of the two middle ones (the same one twice for an odd count).
  const upper = rates[Math.floor(rates.length / 2)];
  const lower = rates[Math.floor((rates.length - 1) / 2)];
  if (upper === undefined || lower === undefined) return null;
  return (lower + upper) / 2;
}

/**
 * How far the ceiling runs of a report lie apart: the same no-op server on the same machine, so their
 * spread is how much the machine's speed moved during the run. Null without ceiling runs.
 */
export function ceilingSpread(
  cases: readonly CaseResult[],
): { runs: number; slowest: number; fastest: number; median: number } | null {
  const rates = cases.filter((c) => c.mode === 'ceiling').map((c) => c.checkouts_per_second);
  const median = medianCeiling(cases);
  if (median === null) return null;
  return { runs: rates.length, slowest: Math.min(...rates), fastest: Math.max(...rates), median };
}

/** How the tables name each workload, and the targets (shorter). */
const WORKLOAD_NAMES: Record<Workload, { table: string; target: string }> = {
  hot: { table: 'one hot SKU', target: 'hot SKU' },
  uniform: { table: '10,000 SKUs', target: '10k SKUs' },
  limited: { table: 'one hot SKU, max 5 per customer', target: 'limited hot SKU' },
  read: { table: 'GET /v1/skus/{sku}, one hot SKU', target: 'SKU read' },
  health: { table: 'GET /healthz', target: 'healthz' },
};

/** The request a workload sends: its ceiling runs answer the same one, and are compared together. */
export function requestOf(workload: Workload): 'checkout' | 'read' | 'health' {
  return workload === 'read' || workload === 'health' ? workload : 'checkout';
}

function sameRequest(a: Workload, b: Workload): boolean {
  return requestOf(a) === requestOf(b);
}

function find(cases: readonly CaseResult[], workload: Workload, store: StoreName, mode: Mode) {
  return cases.find((c) => c.workload === workload && c.store === store && c.mode === mode);
}

/**
 * Whether a workload reached its share of the no-op ceiling, or null where it has no such target or
 * was not measured with a ceiling. Met only against both the ceiling run just before it and the
 * run's median ceiling of the same workload: the machine's speed drifts, and one slow ceiling run
 * alone must not make the target.
 */
function ceilingTarget(cases: readonly CaseResult[], workload: Workload, store: StoreName): Target | null {
  const ratio_min = CEILING_RATIO_MIN[workload];
  const measured = find(cases, workload, store, 'coalesced');
  const ceiling = measured?.ceiling_checkouts_per_second;
  const median = medianCeiling(cases.filter((c) => sameRequest(c.workload, workload)));
  if (ratio_min === undefined || !measured || !ceiling || median === null) return null;
  const ratio = measured.checkouts_per_second / ceiling;
  const median_ratio = measured.checkouts_per_second / median;
  return {
    target: `${WORKLOAD_NAMES[workload].target}, ${store}: >= ${ratio_min * 100}% of the no-op ceiling (the one before it, and the median)`,
    measured:
      `${(ratio * 100).toFixed(0)}% of the one before (${rate(measured.checkouts_per_second)} vs ${rate(ceiling)}/s), ` +
      `${(median_ratio * 100).toFixed(0)}% of the median (${rate(median)}/s); ` +
      `server CPU ${measured.cpu_us_per_request.server.toFixed(0)} µs/request`,
    met: ratio >= ratio_min && median_ratio >= ratio_min,
  };
}

export function evaluateTargets(
  cases: readonly CaseResult[],
  sweeper: readonly SweepResult[],
  rss: readonly RssResult[],
  stores: readonly StoreName[],
): Target[] {
  const targets: Target[] = [];
  for (const store of stores) {
    const coalesced = find(cases, 'hot', store, 'coalesced');
    const naive = find(cases, 'hot', store, 'naive');
    for (const workload of WORKLOADS) {
      const target = ceilingTarget(cases, workload, store);
      if (target) targets.push(target);
    }
    if (store === 'postgres' && coalesced && naive) {
      const ratio = coalesced.checkouts_per_second / naive.checkouts_per_second;
      targets.push({
        target: `hot SKU, postgres: coalesced >= ${NAIVE_RATIO_MIN_POSTGRES}x naive`,
        measured: `${Number.isFinite(ratio) ? ratio.toFixed(1) : 'inf'}x (${rate(coalesced.checkouts_per_second)} vs ${rate(naive.checkouts_per_second)}/s)`,
        met: ratio >= NAIVE_RATIO_MIN_POSTGRES,
      });
    }
    for (const workload of WORKLOADS) {
      const measured = find(cases, workload, store, 'coalesced');
      if (!measured) continue;
      targets.push({
        target: `${WORKLOAD_NAMES[workload].target}, ${store}: coalesced p99 <= ${P99_MAX_MS} ms`,
        measured: `${measured.p99_ms} ms`,
        met: measured.p99_ms <= P99_MAX_MS,
      });
    }
  }
  for (const run of rss) {
    targets.push({
      target: `${run.store}: RSS growth < ${mb(RSS_GROWTH_MAX_BYTES)} MB over ${rate(run.orders)} orders`,
      measured: `${mb(run.growth_bytes)} MB after warm-up (${mb(run.rss_start_bytes)} -> ${mb(run.rss_warm_bytes)} -> ${mb(run.rss_end_bytes)} MB)`,
      met: run.orders >= 1_000_000 && run.errors === 0 ? run.growth_bytes < RSS_GROWTH_MAX_BYTES : null,
    });
  }
  for (const sweep of sweeper) {
    targets.push({
      target: `sweeper, ${sweep.store}: >= ${rate(RELEASES_PER_SECOND_MIN)} releases/s`,
      measured: `${rate(sweep.releases_per_second)}/s (${rate(sweep.holds)} holds in ${sweep.sweep_seconds.toFixed(1)} s)`,
      met: sweep.releases_per_second >= RELEASES_PER_SECOND_MIN,
    });
  }
  return targets;
}

export function toMarkdown(report: Report): string {
  const { machine, settings } = report;
  const lines: string[] = [];
  lines.push(`### Benchmark ${report.started_at}`);
  lines.push('');
  lines.push(
    `Machine: ${machine.cpu_model}, ${machine.cores} cores, ${machine.memory_gb} GB, Node ${machine.node} (${machine.platform}); ` +
      `load average ${machine.load_average_start.map((v) => v.toFixed(1)).join(' ')} at the start, ` +
      `${machine.load_average_end.map((v) => v.toFixed(1)).join(' ')} at the end.`,
  );
  lines.push(
    `Settings: ${settings.connections} connections, ${settings.duration_seconds} s per case, ` +
      `BATCH_SIZE_MAX ${settings.batch_size_max}, ${settings.node_flags?.length ? `servers and the sweeper run with node ${settings.node_flags.join(' ')} (as \`npm start\`), ` : ''}durable commits (SQLite synchronous=FULL, PostgreSQL synchronous_commit=on)` +
      `${settings.api_keys === undefined ? '' : settings.api_keys ? ', an API key required and sent on every request' : ', no API key (open on loopback)'}. ` +
      'Each case runs right after a ceiling run; "x ceiling" is its share of that one.',
  );
  lines.push(
    'CPU per request, in µs, read from /proc: the server process (all threads), the load generator (autocannon, ' +
      'on the same machine) and the rest of the machine (PostgreSQL). "cores busy" is requests/s times their sum: ' +
      `with ${machine.cores} cores, a case at ${machine.cores}.0 is bound by CPU alone.`,
  );
  for (const request of ['checkout', 'read', 'health'] as const) {
    const spread = ceilingSpread(report.cases.filter((c) => requestOf(c.workload) === request));
    if (spread === null || spread.runs < 2) continue;
    lines.push(
      `The ${spread.runs} ceiling runs of the ${request} request did ${rate(spread.slowest)} to ${rate(spread.fastest)} requests/s (median ${rate(spread.median)}): ` +
        `the machine's speed moved by ${Math.round((spread.fastest / spread.slowest - 1) * 100)}% during this run. ` +
        'Absolute figures (requests/s, p99, releases/s) compare with another run only as far as their ceilings agree.',
    );
  }
  pushTable(
    lines,
    [
      ['workload', 'text'],
      ['store', 'text'],
      ['path', 'text'],
      ['requests/s (2xx)', 'number'],
      ['x ceiling', 'number'],
      ['p50 ms', 'number'],
      ['p99 ms', 'number'],
      ['errors', 'number'],
      ['RSS before -> after (MB)', 'text'],
      ['CPU µs/request: server / load gen. / other', 'text'],
      ['cores busy', 'number'],
    ],
    report.cases.map((c) => {
      const cpu = c.cpu_us_per_request;
      return [
        WORKLOAD_NAMES[c.workload].table,
        c.store ?? '-',
        c.mode,
        rate(c.checkouts_per_second),
        ceilingRatio(c)?.toFixed(2) ?? '-',
        c.p50_ms,
        c.p99_ms,
        c.errors,
        `${mb(c.rss_before_bytes)} -> ${mb(c.rss_after_bytes)}`,
        cpu ? `${cpu.server.toFixed(0)} / ${cpu.load_generator.toFixed(0)} / ${cpu.other.toFixed(0)}` : '-',
        cpu ? coresBusy(c).toFixed(2) : '-',
      ];
    }),
  );
  if (report.sweeper.length > 0) {
    pushTable(
      lines,
      [
        ['sweeper', 'text'],
        ['expired holds', 'number'],
        ['SKUs', 'number'],
        ['batch', 'number'],
        ['seed s', 'number'],
        ['sweep s', 'number'],
        ['releases/s', 'number'],
        ['CPU µs/release: sweeper / database', 'text'],
        ['audit problems', 'number'],
      ],
      report.sweeper.map((s) => [
        s.store,
        rate(s.holds),
        rate(s.skus),
        s.batch_size,
        s.seed_seconds.toFixed(1),
        s.sweep_seconds.toFixed(1),
        rate(s.releases_per_second),
        `${s.cpu_us_per_release.process.toFixed(1)} / ${s.store === 'postgres' ? s.cpu_us_per_release.database.toFixed(1) : '-'}`,
        s.audit_problems < 0 ? 'not run' : s.audit_problems,
      ]),
    );
  }
  if (report.storm.length > 0) {
    pushTable(
      lines,
      [
        ['expiry storm (hot SKU, coalesced)', 'text'],
        ['holds falling due', 'number'],
        ['checkouts/s', 'number'],
        ['same without the storm', 'number'],
        ['p50 ms', 'number'],
        ['p99 ms', 'number'],
        ['errors', 'number'],
        ['all released after', 'text'],
      ],
      report.storm.map((run) => {
        const calm = find(report.cases, 'hot', run.store, 'coalesced');
        const released =
          run.released_after_seconds === null
            ? 'not within a minute after the run'
            : `${run.released_after_seconds.toFixed(1)} s${run.released_under_load ? '' : ' (the last of them after the run)'}`;
        return [
          run.store,
          rate(run.holds),
          rate(run.checkouts_per_second),
          calm ? rate(calm.checkouts_per_second) : '-',
          run.p50_ms,
          run.p99_ms,
          run.errors,
          released,
        ];
      }),
    );
  }
  if (report.rss.length > 0) {
    pushTable(
      lines,
      [
        ['RSS over many orders (hot SKU, coalesced)', 'text'],
        ['orders', 'number'],
        ['checkouts/s', 'number'],
        ['errors', 'number'],
        ['RSS start / after warm-up / end / max (MB)', 'text'],
        ['growth after warm-up', 'number'],
      ],
      report.rss.map((r) => [
        r.store,
        rate(r.orders),
        rate(r.checkouts_per_second),
        r.errors,
        `${mb(r.rss_start_bytes)} / ${mb(r.rss_warm_bytes)} / ${mb(r.rss_end_bytes)} / ${mb(r.rss_max_bytes)}`,
        `${mb(r.growth_bytes)} MB`,
      ]),
    );
  }
  if (report.drops && report.drops.length > 0) {
    pushTable(
      lines,
      [
        ['drop (issue 24)', 'text'],
        ['tickets in one burst', 'number'],
        ['joins/s', 'number'],
        ['join p99 ms', 'number'],
        ['admission /s: asked / done', 'text'],
        ['first admission after start', 'text'],
        ['ticket reads/s', 'number'],
        ['read p99 ms', 'number'],
        ['server µs/read', 'number'],
        ['errors', 'number'],
        ['each position once', 'text'],
      ],
      report.drops.map((d) => [
        d.store,
        rate(d.tickets),
        rate(d.joins_per_second),
        d.join_p99_ms,
        `${rate(d.admission_per_second)} / ${rate(d.admitted_per_second)}`,
        d.first_admission_after_ms === null ? 'none in 30 s' : `${d.first_admission_after_ms} ms`,
        rate(d.ticket_reads_per_second),
        d.ticket_read_p99_ms,
        d.ticket_read_cpu_us.toFixed(0),
        d.join_errors + d.ticket_read_errors,
        d.exactly_once ? 'yes' : 'NO',
      ]),
    );
  }
  pushTable(
    lines,
    [
      ['target', 'text'],
      ['measured', 'text'],
      ['met', 'text'],
    ],
    report.targets.map((t) => [
      t.target,
      t.measured,
      t.met === null ? 'not checked' : t.met ? 'met' : 'NOT met',
    ]),
  );
  lines.push('');
  return lines.join('\n');
}

/** A markdown table after a blank line; number columns are right-aligned. */
function pushTable(
  lines: string[],
  columns: readonly (readonly [title: string, kind: 'text' | 'number'])[],
  rows: readonly (readonly (string | number)[])[],
): void {
  lines.push('');
  lines.push(`| ${columns.map(([title]) => title).join(' | ')} |`);
  lines.push(`|${columns.map(([, kind]) => (kind === 'number' ? '---:' : '---')).join('|')}|`);
  for (const row of rows) lines.push(`| ${row.join(' | ')} |`);
}
