// Live chart of checkouts, payments, expiries, cancels and refusals per second (uPlot).
import uPlot from 'uplot';
import { byId } from './dom.ts';

export const SERIES = ['checkouts', 'payments', 'expiries', 'cancels', 'refusals'] as const;
export type Series = (typeof SERIES)[number];

const WINDOW_SECONDS = 120;
const COLORS: Record<Series, string> = {
  checkouts: '#f5a623',
  payments: '#3fb950',
  expiries: '#a371f7',
  cancels: '#8b949e',
  refusals: '#f85149',
};

export class RateChart {
  /** Counts per whole second (unix seconds), kept for the window only. */
  private readonly buckets = new Map<number, Record<Series, number>>();
  private readonly plot: uPlot;

  constructor() {
    const container = byId('rate-chart');
    this.plot = new uPlot(
      {
        width: Math.max(300, container.clientWidth),
        height: 180,
        legend: { live: false },
        cursor: { show: false },
        scales: {
          x: { time: true },
          y: { range: (_u, _min, max) => [0, Math.max(5, Math.ceil(max * 1.1))] },
        },
        axes: [
          { stroke: '#8b949e', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' } },
          { stroke: '#8b949e', grid: { stroke: '#30363d' }, ticks: { stroke: '#30363d' }, size: 45 },
        ],
        series: [
          {},
          ...SERIES.map((name) => ({ label: name, stroke: COLORS[name], width: 2, points: { show: false } })),
        ],
      },
      this.data(Math.floor(Date.now() / 1000)),
      container,
    );
    new ResizeObserver(() =>
      this.plot.setSize({ width: Math.max(300, container.clientWidth), height: 180 }),
    ).observe(container);
    setInterval(() => this.redraw(), 1000);
  }

  count(series: Series, at_ms: number, amount = 1): void {
    const second = Math.floor(at_ms / 1000);
    if (second <= Math.floor(Date.now() / 1000) - WINDOW_SECONDS) return;
    let bucket = this.buckets.get(second);
    if (!bucket) {
      bucket = { checkouts: 0, payments: 0, expiries: 0, cancels: 0, refusals: 0 };
      this.buckets.set(second, bucket);
    }
    bucket[series] += amount;
  }

  private data(now_second: number): uPlot.AlignedData {
    const xs: number[] = [];
    const columns: number[][] = SERIES.map(() => []);
    // The current second is still filling: show up to the one before, so the line does not dip.
    for (let second = now_second - WINDOW_SECONDS; second < now_second; second++) {
      xs.push(second);
      const bucket = this.buckets.get(second);
      for (const [index, name] of SERIES.entries()) columns[index]!.push(bucket ? bucket[name] : 0);
    }
    return [xs, ...columns];
  }

  private redraw(): void {
    const now_second = Math.floor(Date.now() / 1000);
    for (const second of this.buckets.keys())
      if (second < now_second - WINDOW_SECONDS) this.buckets.delete(second);
    this.plot.setData(this.data(now_second));
  }
}
