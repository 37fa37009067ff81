// Live chart of checkouts, payments, expiries, cancels and refusals per second (uPlot).
import uPlot from 'uplot';
import { byId } from './dom.ts';

export const SERIES = ['checkouts', 'payments', 'expiries', 'cancels', 'refusals'] as const;
export type Series = (typeof SERIES)[number];

const WINDOW_SECONDS = 120;
/** The axes' font, set here so that the labels' widths can be measured with the same one. */
const AXIS_FONT = '11px system-ui, sans-serif';
/**
 * Least room from one time label's centre to the next: wider than an "HH:MM:SS" label in
 * AXIS_FONT plus a gap, so uPlot picks a tick step whose labels cannot touch at any width.
 */
const X_LABEL_SPACE_PX = 64;
const timeLabel = uPlot.fmtDate('{HH}:{mm}:{ss}');
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
  private readonly measure = document.createElement('canvas');
  /** The x-axis ticks uPlot asked labels for last. */
  private x_ticks: { second: number; text: string }[] = [];

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
          {
            stroke: '#8b949e',
            font: AXIS_FONT,
            grid: { stroke: '#30363d' },
            ticks: { stroke: '#30363d' },
            // One row of local times: uPlot's default adds a second row of dates, which ran into each
            // other in the side column.
            space: X_LABEL_SPACE_PX,
            values: (_u, splits) => {
              this.x_ticks = splits.map((second) => ({
                second,
                text: timeLabel(new Date(second * 1000)),
              }));
              return this.x_ticks.map((tick) => tick.text);
            },
          },
          {
            stroke: '#8b949e',
            font: AXIS_FONT,
            grid: { stroke: '#30363d' },
            ticks: { stroke: '#30363d' },
            size: 45,
          },
        ],
        hooks: { draw: [(u) => this.describeLabels(u, container)] },
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

  /**
   * The x-axis labels are drawn in the canvas: their text and place (CSS pixels from the chart's left)
   * go into an attribute too, for screen readers (aria-label) and for the browser test that checks
   * they never overlap.
   */
  private describeLabels(u: uPlot, container: HTMLElement): void {
    const context = this.measure.getContext('2d');
    if (!context) return;
    context.font = AXIS_FONT;
    // uPlot centres each label on its tick; valToPos is in CSS pixels from the plot's left edge.
    const boxes = this.x_ticks.map(({ second, text }) => {
      const centre = u.valToPos(second, 'x');
      const half = context.measureText(text).width / 2;
      return { text, left: Math.round(centre - half), right: Math.round(centre + half) };
    });
    container.dataset.xLabels = JSON.stringify({ width: u.width, boxes });
    container.setAttribute('aria-label', `per second, times ${boxes.map((box) => box.text).join(', ')}`);
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
    // The current second is still filling: show up to the one before, so the line does not dip.
    for (let second = now_second - WINDOW_SECONDS; second < now_second; second++) xs.push(second);
    const buckets = xs.map((second) => this.buckets.get(second));
    return [xs, ...SERIES.map((name) => buckets.map((bucket) => (bucket ? bucket[name] : 0)))];
  }

  private redraw(): void {
    const now_second = Math.floor(Date.now() / 1000);
    for (const second of this.buckets.keys())
      if (second < now_second - WINDOW_SECONDS) this.buckets.delete(second);
    this.plot.setData(this.data(now_second));
  }
}
