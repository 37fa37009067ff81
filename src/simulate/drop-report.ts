// What `stockhold simulate --drop` shows: first-come and the waiting room side by side, in the
// terminal and in the self-contained HTML report (the same helpers as the flash-sale report).
import { DROP_MODE_LABELS, type DropRun, type DropRunMetrics } from './drop-runner.ts';
import { DROP_TIMING } from './drop-script.ts';
import { count, escapeHtml, parameterRows, reportPage, scriptJson, textTable } from './report.ts';
import type { DropSimulationResult } from './simulation.ts';

interface DropRow {
  label: string;
  value: (metrics: DropRunMetrics, run: DropRun) => string;
}

const percent = (part: number, whole: number) =>
  whole === 0 ? '-' : `${((100 * part) / whole).toFixed(1)}%`;
const seconds = (ms: number | null) => (ms === null ? '-' : `${(ms / 1000).toFixed(1)} s`);

/** The scripts' share of the units sold, or null when nothing sold. */
export function scriptShareOfUnits(metrics: DropRunMetrics): number | null {
  return metrics.units_sold === 0 ? null : metrics.units_sold_to_scripts / metrics.units_sold;
}

export const DROP_ROWS: readonly DropRow[] = [
  { label: 'shoppers', value: (m) => count(m.shoppers) },
  {
    label: "scripts' share of shoppers",
    value: (m) => `${percent(m.scripts, m.shoppers)} (${count(m.scripts)})`,
  },
  {
    label: "scripts' share of tickets admitted",
    value: (m) =>
      m.admitted === null
        ? '-'
        : `${percent(m.admitted.scripts, m.admitted.scripts + m.admitted.humans)} (${count(m.admitted.scripts)})`,
  },
  {
    label: "scripts' share of units held at checkout",
    value: (m) => `${percent(m.units_held_by_scripts, m.units_held)} (${count(m.units_held_by_scripts)})`,
  },
  {
    label: "scripts' share of units sold",
    value: (m) => `${percent(m.units_sold_to_scripts, m.units_sold)} (${count(m.units_sold_to_scripts)})`,
  },
  { label: 'units sold', value: (m) => `${count(m.units_sold)} of ${count(m.stock)}` },
  { label: 'units left unsold', value: (m) => count(m.units_left_unsold) },
  {
    label: 'buyers: humans / scripts',
    value: (m) => `${count(m.buyers.humans)} / ${count(m.buyers.scripts)}`,
  },
  {
    label: 'time to admission p50 / p99',
    value: (m) =>
      m.time_to_admission === null
        ? '-'
        : `${seconds(m.time_to_admission.p50_ms)} / ${seconds(m.time_to_admission.p99_ms)}`,
  },
  { label: 'checkouts sent', value: (m) => count(m.checkouts_sent) },
  { label: 'checkouts refused', value: (m) => count(m.checkouts_refused) },
  { label: 'oversold units', value: (m) => count(m.oversold_units) },
  {
    label: 'audit (buckets vs ledger, holds, orders)',
    value: (m) =>
      m.audit_problems.length === 0 && m.miscounted_units === 0
        ? 'OK'
        : `${m.audit_problems.length + m.miscounted_units} problems`,
  },
  { label: 'simulated time', value: (_m, run) => `${run.simulated_s.toFixed(1)} s` },
  { label: 'real time', value: (_m, run) => `${(run.duration_ms / 1000).toFixed(1)} s` },
];

export function formatDropParameters(
  result: Pick<DropSimulationResult, 'parameters' | 'drop' | 'database' | 'concurrency'>,
): string {
  const { parameters: p, drop } = result;
  return (
    `seed ${p.seed}: a drop of ${p.hot_skus} SKUs with ${p.hot_stock} units each, ${count(p.shoppers)} shoppers, ` +
    `${Math.round(drop.script_share * 100)}% of them scripts; hold ${p.hold_seconds} s, ` +
    `${Math.round(p.abandon_share * 100)}% of the humans abandon; waiting room: ${drop.admission_per_second} admissions/s, ` +
    `each for ${drop.admission_seconds} s; ${result.database}, ${result.concurrency} requests in flight`
  );
}

/** First-come and the waiting room side by side, plain text. */
export function formatDropTable(result: DropSimulationResult): string {
  const header = ['', ...result.runs.map((run) => DROP_MODE_LABELS[run.mode])];
  const body = DROP_ROWS.map((row) => [row.label, ...result.runs.map((run) => row.value(run.metrics, run))]);
  return textTable(header, body);
}

/** The data the report's charts draw (tests read it back). */
export function dropChartData(result: DropSimulationResult) {
  return {
    parameters: result.parameters,
    drop: result.drop,
    runs: result.runs.map((run) => ({
      mode: run.mode,
      label: DROP_MODE_LABELS[run.mode],
      stock: run.metrics.stock,
      script_share_of_shoppers: run.metrics.shoppers === 0 ? 0 : run.metrics.scripts / run.metrics.shoppers,
      script_share_of_units: scriptShareOfUnits(run.metrics),
      sales: run.sales,
    })),
  };
}

// One chart per run: the units sold so far to scripts and to humans, over simulated time. Each has its
// own time axis (first-come sells out in about a second, the waiting room over minutes). A drawn
// chart's element carries its last values in data-scripts / data-humans (the browser test reads them).
const DROP_CHART_SCRIPT = `
const data = JSON.parse(document.getElementById('drop-simulation-data').textContent);
for (const run of data.runs) {
  const box = document.createElement('div');
  box.className = 'chart';
  box.dataset.mode = run.mode;
  const title = document.createElement('h3');
  title.textContent = run.label;
  box.appendChild(title);
  document.getElementById('charts').appendChild(box);
  const points = [{ t_s: 0, scripts: 0, humans: 0 }, ...run.sales];
  new uPlot({
    width: Math.max(320, Math.min(540, (document.body.clientWidth - 60) / 2)), height: 280,
    legend: { live: false },
    series: [
      { label: 'seconds after 00:00' },
      { label: 'sold to scripts', stroke: '#d62728', width: 2 },
      { label: 'sold to humans', stroke: '#1f77b4', width: 2 },
    ],
    scales: { x: { time: false }, y: { range: () => [0, Math.max(1, run.stock)] } },
    axes: [{ label: 'seconds after 00:00 (simulated)' }, { label: 'units sold' }],
    hooks: { ready: [() => {
      const last = points[points.length - 1];
      box.dataset.scripts = String(last.scripts);
      box.dataset.humans = String(last.humans);
      box.dataset.drawn = 'true';
    }] },
  }, [points.map((p) => p.t_s), points.map((p) => p.scripts), points.map((p) => p.humans)], box);
}
`;

function resultsTable(result: DropSimulationResult): string {
  const header = ['', ...result.runs.map((run) => DROP_MODE_LABELS[run.mode])];
  const rows = DROP_ROWS.map(
    (row) =>
      `<tr><th>${escapeHtml(row.label.trim())}</th>${result.runs
        .map((run) => `<td>${escapeHtml(row.value(run.metrics, run))}</td>`)
        .join('')}</tr>`,
  ).join('\n');
  return `<table>
<thead><tr>${header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table>`;
}

/** The flash sale's parameters a drop does not use: its shoppers all come for the drop at 00:00. */
const IGNORED_PARAMETERS = new Set([
  'skus',
  'cold_stock',
  'hot_demand_share',
  'burst_share',
  'arrival_mean_seconds',
  'extend_share',
]);

export function renderDropHtml(result: DropSimulationResult): string {
  const parameters = parameterRows(
    Object.fromEntries(
      Object.entries({ ...result.parameters, ...result.drop }).filter(
        ([key]) => !IGNORED_PARAMETERS.has(key),
      ),
    ),
  );
  const databases =
    result.database === 'sqlite'
      ? 'Each run had a new SQLite file of its own, in a temporary directory removed after the run.'
      : 'Each run had a new schema of its own in the PostgreSQL database given, dropped after the run.';
  const body = `<h1>A drop: first-come and through the waiting room</h1>
<p>The same shoppers, on the same stock, ran twice against the real stockhold service over its HTTP
API (${escapeHtml(result.database)}), started ${escapeHtml(result.started_at)}. Some shoppers are
<b>scripts</b>: they arrive within ${DROP_TIMING.script_arrival_ms_max} ms, retry a refused checkout at
once and pay at once. The humans take ${DROP_TIMING.human_think_ms_min / 1000} to
${DROP_TIMING.human_think_ms_max / 1000} s to check out. <b>First-come</b>: no drop, everyone checks
out from 00:00. <b>Waiting room</b>: a drop over the SKUs starts at 00:00; everyone takes a ticket in
the ${DROP_TIMING.open_before_start_ms / 1000} s before (scripts in the first milliseconds), the
tickets taken before the start are shuffled, the page polls its ticket (when the ticket says, 2 to 30 s;
a script every ${DROP_TIMING.script_poll_ms} ms) and checks out
with its admission token once admitted.</p>
<p>${escapeHtml(formatDropParameters(result))}</p>
<p>${databases}</p>
<h2>Results</h2>
${resultsTable(result)}
<p><small>Three shares tell the waiting room's story. "Tickets admitted": the line itself, in a
random order, so the scripts get about their share of the admissions. "Units held at checkout": an
admitted shopper still has to check out; the line admits only for the units beyond one per open
admission, so the last units of a wave, and a unit a lapsed hold returns, are not raced for by more
admitted shoppers than there are units. "Units sold": scripts pay at once, while some humans
abandon or pay late and their units go round again.</small></p>
<p><small>"Time to admission": from 00:00 (or the ticket, when taken later) to the admission, over
the admitted tickets. The simulated clock moves from one thing to happen to the next; a poll that
could only show a smaller "ahead" is not sent, the page's next poll after its turn is.</small></p>
<h2>Units sold over time</h2>
<div id="charts"></div>
<h2>Parameters</h2>
<p>Run it again: <code>stockhold simulate --drop --seed ${result.parameters.seed} --shoppers ${result.parameters.shoppers} --script-share ${result.drop.script_share}</code></p>
<table><tbody>
${parameters}
</tbody></table>
<script type="application/json" id="drop-simulation-data">${scriptJson(dropChartData(result))}</script>`;
  return reportPage({
    title: `stockhold: a drop, first-come and through the waiting room (seed ${result.parameters.seed})`,
    style: '#charts { display: flex; flex-wrap: wrap; gap: 20px; }',
    body,
    chart_script: DROP_CHART_SCRIPT,
  });
}
