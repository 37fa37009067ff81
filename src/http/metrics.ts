// Prometheus metrics (/metrics), one registry per app instance: HTTP traffic per route pattern,
// what the writes did (checkouts held/refused, payments, expiries, cancels), group-commit batches,
// and gauges read at scrape time (hottest SKUs, sweeper lag, outbox and webhook backlog, DB pool).
import type { FastifyInstance } from 'fastify';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Clock } from '../core/clock.ts';
import type { CommandQueue } from '../store/command-queue.ts';
import type { CommitReport } from '../store/commit-feed.ts';
import type { AdmissionReport } from '../store/drop-repository.ts';
import type { KyselyStore } from '../store/kysely-store.ts';
import { isStorageUnavailable } from '../store/storage-faults.ts';

/** SKUs with their own bucket gauges: the hottest by on_hold + sold, so label cardinality is bounded. */
export const HOT_SKUS_MAX = 20;

/**
 * Runs a gauge's read of the database. While the database is away the gauge keeps its last value,
 * so a scrape still answers with everything else (process, HTTP, queue) when it matters most.
 */
async function fromDatabase<T>(read: () => Promise<T>): Promise<T | null> {
  try {
    return await read();
  } catch (error) {
    if (!isStorageUnavailable(error)) throw error;
    return null;
  }
}

export interface MetricsSources {
  store: KyselyStore;
  queue: () => CommandQueue | null;
  clock: Clock;
}

export class Metrics {
  readonly registry = new Registry();
  private readonly http_requests = new Counter({
    name: 'stockhold_http_requests_total',
    help: 'HTTP requests answered, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    registers: [this.registry],
  });
  private readonly http_duration = new Histogram({
    name: 'stockhold_http_request_duration_seconds',
    help: 'HTTP request latency, by method, route pattern and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });
  private readonly checkouts = new Counter({
    name: 'stockhold_checkouts_total',
    help: 'Checkouts decided (replays not counted): held, or refused with an error code',
    labelNames: ['outcome', 'code'] as const,
    registers: [this.registry],
  });
  private readonly payments = new Counter({
    name: 'stockhold_payments_total',
    help: 'Orders paid; late="true" when paid after the deadline (stock re-acquired)',
    labelNames: ['late'] as const,
    registers: [this.registry],
  });
  private readonly expiries = new Counter({
    name: 'stockhold_expiries_total',
    help: 'Orders expired, by who released them: the sweeper or a checkout (lazy reclaim)',
    labelNames: ['source'] as const,
    registers: [this.registry],
  });
  private readonly cancels = new Counter({
    name: 'stockhold_cancels_total',
    help: 'Orders cancelled',
    registers: [this.registry],
  });
  private readonly batch_size = new Histogram({
    name: 'stockhold_command_batch_size',
    help: 'Commands decided per write transaction (group commit)',
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers: [this.registry],
  });
  private readonly batch_duration = new Histogram({
    name: 'stockhold_command_batch_duration_seconds',
    help: 'Duration of one write transaction of the command queue',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });
  private readonly webhook_attempts = new Counter({
    name: 'stockhold_webhook_attempts_total',
    help: 'Webhook delivery attempts by outcome (succeeded, retry, failed for good, stale claim)',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  private readonly drop_admitted = new Counter({
    name: 'stockhold_drop_admitted_total',
    help: "Tickets admitted to a drop's checkout, by drop",
    labelNames: ['drop'] as const,
    registers: [this.registry],
  });
  private readonly drop_waiting = new Gauge({
    name: 'stockhold_drop_waiting',
    help: "Tickets waiting in a running drop's line, by drop, as of the latest admission pass",
    labelNames: ['drop'] as const,
    registers: [this.registry],
  });
  private readonly drop_time_to_admission = new Histogram({
    name: 'stockhold_drop_time_to_admission_seconds',
    help: 'From taking a ticket (or the start, for the pre-queue) to admission',
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600],
    registers: [this.registry],
  });

  constructor(sources: MetricsSources) {
    collectDefaultMetrics({ register: this.registry, prefix: 'stockhold_' });
    const { store, clock } = sources;
    const registers = [this.registry];
    new Gauge({
      name: 'stockhold_command_queue_length',
      help: 'Writes waiting for the next transaction',
      registers,
      collect() {
        this.set(sources.queue()?.length ?? 0);
      },
    });
    new Gauge({
      name: 'stockhold_sku_units',
      help: `Units per bucket of the ${HOT_SKUS_MAX} hottest SKUs (by on_hold + sold)`,
      labelNames: ['sku', 'bucket'] as const,
      registers,
      async collect() {
        const rows = await fromDatabase(() => store.metric_reads.hottestSkus(HOT_SKUS_MAX));
        if (rows === null) return;
        // Reset: a SKU that left the top list must not keep reporting stale values.
        this.reset();
        for (const row of rows) {
          this.set({ sku: row.sku, bucket: 'available' }, row.available);
          this.set({ sku: row.sku, bucket: 'on_hold' }, row.on_hold);
          this.set({ sku: row.sku, bucket: 'sold' }, row.sold);
        }
      },
    });
    new Gauge({
      name: 'stockhold_sweeper_lag_seconds',
      help: 'Age of the oldest pending hold past its deadline (0 when none is overdue)',
      registers,
      async collect() {
        const now_ms = clock.now();
        const read = await fromDatabase(async () => ({
          oldest: await store.metric_reads.oldestOverdueDeadline(now_ms),
        }));
        if (read === null) return;
        const { oldest } = read;
        this.set(oldest === null ? 0 : (now_ms - oldest) / 1000);
      },
    });
    const backlog = new Gauge({
      name: 'stockhold_webhook_backlog',
      help: 'Outbox events not yet fanned out to webhooks, open deliveries and deliveries that failed for good',
      labelNames: ['kind'] as const,
      registers,
      async collect() {
        const counts = await fromDatabase(() => store.webhooks.backlog());
        if (counts === null) return;
        backlog.set({ kind: 'outbox_events' }, counts.outbox_events);
        backlog.set({ kind: 'deliveries_open' }, counts.deliveries_open);
        backlog.set({ kind: 'deliveries_failed' }, counts.deliveries_failed);
      },
    });
    new Gauge({
      name: 'stockhold_db_pool_connections',
      help: 'PostgreSQL pool connections: total, idle, and clients waiting for one',
      labelNames: ['state'] as const,
      registers,
      collect() {
        const stats = store.poolStats();
        if (!stats) return;
        this.set({ state: 'total' }, stats.total);
        this.set({ state: 'idle' }, stats.idle);
        this.set({ state: 'waiting' }, stats.waiting);
      },
    });
  }

  /** The store's commit observer: counts what each committed write did. */
  readonly observeCommit = (report: CommitReport): void => {
    if (report.source === 'sweep') {
      this.expiries.inc({ source: 'sweeper' }, report.expired_orders);
      return;
    }
    for (const [index, envelope] of report.envelopes.entries()) {
      const result = report.results[index];
      if (!result || result.replayed || envelope.command.kind !== 'checkout') continue;
      if (result.outcome.ok) this.checkouts.inc({ outcome: 'held', code: '' });
      else this.checkouts.inc({ outcome: 'refused', code: result.outcome.error.code });
    }
    for (const event of report.events) {
      if (event.type === 'order.paid') {
        const late = (event.data.order as { late?: boolean } | undefined)?.late === true;
        this.payments.inc({ late: String(late) });
      } else if (event.type === 'order.expired') {
        this.expiries.inc({ source: 'lazy' });
      } else if (event.type === 'order.cancelled') {
        this.cancels.inc();
      }
    }
  };

  /** The command queue's batch observer. */
  readonly observeBatch = (batch_size: number, duration_ms: number): void => {
    this.batch_size.observe(batch_size);
    this.batch_duration.observe(duration_ms / 1000);
  };

  /** The admitter's observer: what each pass did to each running drop. */
  readonly observeAdmission = (reports: readonly AdmissionReport[]): void => {
    for (const report of reports) {
      if (report.admitted > 0) this.drop_admitted.inc({ drop: report.drop_id }, report.admitted);
      this.drop_waiting.set({ drop: report.drop_id }, report.sold_out ? 0 : report.waiting);
      for (const wait_ms of report.waits_ms) this.drop_time_to_admission.observe(wait_ms / 1000);
    }
  };

  readonly observeWebhookAttempt = (outcome: string): void => {
    this.webhook_attempts.inc({ outcome });
  };

  /** Counts every answered request under its route pattern (never the raw URL: bounded labels). */
  plugin = async (app: FastifyInstance): Promise<void> => {
    app.addHook('onResponse', async (request, reply) => {
      const labels = {
        method: request.method,
        route: request.routeOptions.url ?? 'unmatched',
        status: String(reply.statusCode),
      };
      this.http_requests.inc(labels);
      this.http_duration.observe(labels, reply.elapsedTime / 1000);
    });
    app.get(
      '/metrics',
      {
        config: { access: { scopes: ['read'] } },
        schema: {
          tags: ['operations'],
          summary: 'Prometheus metrics (text exposition format)',
          response: {
            200: {
              description: 'Every metric of this process',
              content: { 'text/plain': { schema: { type: 'string' } } },
            },
          },
        },
      },
      async (_request, reply) => {
        const text = await this.registry.metrics();
        reply.header('content-type', this.registry.contentType);
        return text;
      },
    );
  };
}
