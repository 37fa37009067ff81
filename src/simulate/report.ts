// What a simulation shows: the side-by-side table for the terminal, and a self-contained HTML
// report (uPlot inlined from node_modules, data embedded: it opens offline, from a file or a mail).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { Metrics, StrategyRun } from './runner.ts';
import type { SimulationParameters } from './script.ts';
import type { SimulationResult } from './simulation.ts';

interface Row {
  label: string;
  value: (metrics: Metrics, run: StrategyRun) => string;
}

export const count = (value: number) => value.toLocaleString('en-US');

export const ROWS: readonly Row[] = [
  { label: 'shoppers', value: (m) => count(m.shoppers) },
  { label: 'orders accepted at checkout', value: (m) => count(m.checkouts_accepted) },
  { label: 'turned away at checkout ("out of stock")', value: (m) => count(m.turned_away) },
  { label: 'paid (customer told "paid")', value: (m) => count(m.paid) },
  { label: '  of which paid after the deadline', value: (m) => count(m.paid_late) },
  { label: 'holds extended once (slow payment)', value: (m) => count(m.extended_holds) },
  { label: 'late payments refused at once (refunded)', value: (m) => count(m.payments_refused) },
  { label: 'cancelled by the shopper', value: (m) => count(m.cancelled_by_shopper) },
  { label: 'expired holds returned to stock', value: (m) => count(m.expired_holds) },
  { label: 'paid, later cancelled for lack of stock', value: (m) => count(m.cancelled_for_stock) },
  { label: 'oversold units', value: (m) => count(m.oversold_units) },
  { label: 'minimum stock seen (hot SKUs)', value: (m) => count(m.min_stock) },
  { label: 'units miscounted at the end', value: (m) => count(m.miscounted_units) },
  {
    label: 'units left unsold while buyers were turned away',
    value: (m) => count(m.unsold_while_turned_away),
  },
  {
    label: 'audit (buckets vs ledger, holds, orders)',
    value: (m) =>
      m.audit_problems === null
        ? 'no ledger'
        : m.audit_problems.length === 0
          ? 'OK'
          : `${m.audit_problems.length} problems`,
  },
  { label: 'real time', value: (_m, run) => `${(run.duration_ms / 1000).toFixed(1)} s` },
];

/** The side-by-side table, plain text, one column per strategy. */
export function formatTable(result: SimulationResult): string {
  const header = ['', ...result.runs.map((run) => run.strategy)];
  const body = ROWS.map((row) => [row.label, ...result.runs.map((run) => row.value(run.metrics, run))]);
  return textTable(header, body);
}

/** A plain-text table: labels left-aligned in the first column, values right-aligned. */
export function textTable(header: string[], body: string[][]): string {
  const widths = header.map((_, column) =>
    Math.max(...[header, ...body].map((cells) => cells[column]?.length ?? 0)),
  );
  const line = (cells: string[]) =>
    cells
      .map((cell, column) =>
        column === 0 ? cell.padEnd(widths[0] ?? 0) : cell.padStart(widths[column] ?? 0),
      )
      .join('  ');
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...body.map(line)].join('\n');
}

export function formatParameters(
  p: SimulationParameters,
  database: SimulationResult['database'],
  concurrency: number,
): string {
  return (
    `seed ${p.seed}: ${count(p.shoppers)} shoppers, ${p.skus} SKUs (${p.hot_skus} hot with ${p.hot_stock} units, ` +
    `the others ${p.cold_stock}), ${Math.round(p.burst_share * 100)}% arrive at 00:00:00, hold ${p.hold_seconds} s, ` +
    `${Math.round(p.abandon_share * 100)}% abandon, ${Math.round(p.cancel_share * 100)}% cancel, ` +
    `${Math.round(p.late_share * 100)}% pay late (${Math.round(p.extend_share * 100)}% of them extend once); ` +
    `${database}, ${concurrency} requests in flight`
  );
}

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/** JSON that is safe inside a <script> element. */
export function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(/</g, '\\u003c');
}

export function uplotAssets(): { js: string; css: string } {
  const require = createRequire(import.meta.url);
  const dist = dirname(require.resolve('uplot/dist/uPlot.iife.min.js'));
  return {
    js: readFileSync(join(dist, 'uPlot.iife.min.js'), 'utf8'),
    css: readFileSync(join(dist, 'uPlot.min.css'), 'utf8'),
  };
}

/** The data the charts draw, as embedded in the report (tests read it back). */
/** A report's parameters as table rows, escaped. */
export function parameterRows(parameters: object): string {
  return Object.entries(parameters)
    .map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(String(value))}</td></tr>`)
    .join('\n');
}

/**
 * A self-contained report page: the chart library and the reports' shared style inline, then `body`
 * (which carries its data as JSON) and the script that draws its charts.
 */
export function reportPage(page: {
  title: string;
  style: string;
  body: string;
  chart_script: string;
}): string {
  const { js, css } = uplotAssets();
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(page.title)}</title>
<style>${css}</style>
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 20px; color: #222; max-width: 1140px; }
table { border-collapse: collapse; margin: 8px 0 20px; }
th, td { border: 1px solid #ddd; padding: 4px 10px; }
td { text-align: right; font-variant-numeric: tabular-nums; }
th { text-align: left; font-weight: normal; background: #fafafa; }
thead th { font-weight: bold; }
small { color: #666; font-weight: normal; }
code { background: #f3f3f3; padding: 0 3px; }
${page.style}
</style>
</head>
<body>
${page.body}
<script>${js}</script>
<script>${page.chart_script}</script>
</body>
</html>
`;
}

export function chartData(result: SimulationResult) {
  const [first] = result.runs;
  const hot_skus = Object.keys(first?.series ?? {});
  return {
    parameters: result.parameters,
    time_s: first?.time_s ?? [],
    skus: hot_skus.map((sku) => ({
      sku,
      stock: first?.skus.find((outcome) => outcome.sku === sku)?.stock ?? 0,
      strategies: Object.fromEntries(result.runs.map((run) => [run.strategy, run.series[sku]])),
    })),
  };
}

// One chart per strategy and hot SKU, each with its own y range: on one shared axis the legacy
// counter's fall to -200 squeezed stockhold's 0..stock lines into a flat band. stockhold's axis runs
// from 0 to the SKU's stock (its buckets never leave that range); legacy's fits its data, zero
// included, so the oversell below zero stays in view. Each chart's drawn range goes into its
// element's data-y-min / data-y-max (the browser test reads them).
const CHART_SCRIPT = `
const data = JSON.parse(document.getElementById('simulation-data').textContent);
const clock = (s) => { const m = Math.floor(s / 60); return '00:' + String(m).padStart(2, '0') + ':' + String(s % 60).padStart(2, '0'); };
const LINES = {
  legacy: [
    ['available', 'stock counter', { stroke: '#d62728', width: 2 }],
    ['true_left', 'units really left', { stroke: '#7f1d1d', dash: [6, 4], width: 2 }],
  ],
  stockhold: [
    ['available', 'available', { stroke: '#2ca02c', width: 2 }],
    ['on_hold', 'on hold', { stroke: '#ff7f0e', dash: [4, 3], width: 1.5 }],
  ],
};
for (const sku of data.skus) {
  const box = document.createElement('section');
  box.className = 'sku-charts';
  const title = document.createElement('h3');
  title.textContent = sku.sku + ' ';
  const note = document.createElement('small');
  note.textContent = '(' + sku.stock + ' units at 00:00)';
  title.appendChild(note);
  box.appendChild(title);
  const row = document.createElement('div');
  row.className = 'chart-row';
  box.appendChild(row);
  document.getElementById('charts').appendChild(box);
  for (const strategy of Object.keys(LINES)) {
    const lines = sku.strategies[strategy];
    if (!lines) continue;
    const chart = document.createElement('div');
    chart.className = 'chart';
    chart.dataset.sku = sku.sku;
    chart.dataset.strategy = strategy;
    row.appendChild(chart);
    const series = [{ label: 'time', value: (u, v) => v == null ? '' : clock(v) }];
    const columns = [data.time_s];
    let low = 0, high = sku.stock;
    for (const [key, label, style] of LINES[strategy]) {
      series.push(Object.assign({ label: strategy + ': ' + label }, style));
      columns.push(lines[key]);
      for (const value of lines[key]) { if (value < low) low = value; if (value > high) high = value; }
    }
    series.push({ label: 'zero', stroke: '#888', width: 1, points: { show: false } });
    columns.push(data.time_s.map(() => 0));
    // stockhold's buckets stay within 0..stock, so low is 0 there; legacy's counter goes below.
    const range = [low, Math.max(1, high)];
    new uPlot({
      width: Math.max(320, Math.min(540, (document.body.clientWidth - 60) / 2)), height: 280, series,
      legend: { live: false },
      scales: { x: { time: false }, y: { range: () => range } },
      axes: [{ label: 'time after 00:00 (simulated)', values: (u, ticks) => ticks.map(clock) }, { label: 'units' }],
      hooks: { ready: [(u) => { chart.dataset.yMin = String(u.scales.y.min); chart.dataset.yMax = String(u.scales.y.max); }] },
    }, columns, chart);
  }
}
`;

export function renderHtml(result: SimulationResult): string {
  const header = ['', ...result.runs.map((run) => run.strategy)];
  const rows = ROWS.map(
    (row) =>
      `<tr><th>${escapeHtml(row.label.trim())}</th>${result.runs
        .map((run) => `<td>${escapeHtml(row.value(run.metrics, run))}</td>`)
        .join('')}</tr>`,
  ).join('\n');
  const hot_rows = result.runs
    .flatMap((run) =>
      run.skus
        .filter((outcome) => outcome.sku in run.series)
        .map(
          (outcome) =>
            `<tr><th>${run.strategy}</th><th>${escapeHtml(outcome.sku)}</th><td>${outcome.stock}</td>` +
            `<td>${outcome.units_paid}</td><td>${outcome.oversold_units}</td><td>${outcome.recorded_left}</td>` +
            `<td>${outcome.true_left}</td><td>${outcome.min_available}</td><td>${outcome.turned_away}</td></tr>`,
        ),
    )
    .join('\n');
  const parameters = parameterRows(result.parameters);
  // Where the databases were, in general terms: their paths were temporary, gone when the report is read.
  const databases =
    result.database === 'sqlite'
      ? 'Each strategy ran on a new SQLite file of its own, in a temporary directory removed after the run.'
      : 'Each strategy ran in a new schema of its own in the PostgreSQL database given, dropped after the run.';
  const body = `<h1>12.12 flash sale: the legacy store and stockhold, side by side</h1>
<p>The same seeded shopper script ran against both strategies on real databases
(${escapeHtml(result.database)}), started ${escapeHtml(result.started_at)}.
<b>legacy</b> reserves nothing at checkout and, after payment, reads the stock, computes the new
value in the application and writes it back (read-modify-write, no lock). <b>stockhold</b> is the
real service, driven over its HTTP API: checkout holds the stock until a payment deadline,
payment sells it, cancel and expiry return it; a slow payer may extend the deadline once.</p>
<p>${escapeHtml(formatParameters(result.parameters, result.database, result.concurrency))}</p>
<p>${databases}</p>
<h2>Results</h2>
<table>
<thead><tr>${header.map((cell) => `<th>${escapeHtml(cell)}</th>`).join('')}</tr></thead>
<tbody>
${rows}
</tbody>
</table>
<p><small>"Paid, later cancelled for lack of stock": the warehouse ships paid orders in the order
they were paid while it has every unit; the rest are the phone calls from Customer Service.
"Units miscounted": how far the store's counter (available + on hold) is from the stock minus
every unit it took money for (lost updates). The simulated clock moves in steps of one second;
everything the script puts in the same second is sent concurrently.</small></p>
<h2>Stock over time, per hot SKU</h2>
<p><small>Left, legacy: its stock counter and the units really left (stock minus units paid for;
below zero is oversold). Right, stockhold: available and on hold (available + on hold + sold =
stock, always). Each chart has its own scale: stockhold's runs from 0 to the SKU's stock.</small></p>
<div id="charts"></div>
<h2>Hot SKUs at the end</h2>
<table>
<thead><tr><th>strategy</th><th>sku</th><th>stock</th><th>units paid</th><th>oversold</th>
<th>counter says left</th><th>really left</th><th>lowest counter</th><th>buyers turned away</th></tr></thead>
<tbody>
${hot_rows}
</tbody>
</table>
<h2>Parameters</h2>
<p>Run it again: <code>stockhold simulate --seed ${result.parameters.seed} --shoppers ${result.parameters.shoppers}</code>
(every parameter below has an option).</p>
<table><tbody>
${parameters}
</tbody></table>
<script type="application/json" id="simulation-data">${scriptJson(chartData(result))}</script>`;
  return reportPage({
    title: `stockhold: 12.12 flash-sale simulation (seed ${result.parameters.seed})`,
    style: '.chart-row { display: flex; flex-wrap: wrap; gap: 20px; }',
    body,
    chart_script: CHART_SCRIPT,
  });
}
