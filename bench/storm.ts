// The expiry storm: at 00:15 the holds of every shopper who checked out at 00:00 and did not pay
// fall due together, while others keep buying the hot SKU. Measures checkouts through the storm,
// and how long after falling due the server's own sweeper has returned every one of those holds.
import { loadConfig } from '../src/config.ts';
import { openMigratedStore } from '../src/server.ts';
import { rawDatabase } from '../test/support/raw-database.ts';
import { drive } from './load.ts';
import type { ChildServer } from './processes.ts';
import { seedExpired } from './sweep.ts';

export interface StormResult {
  holds: number;
  checkouts_per_second: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  /**
   * From the moment the last of them fell due until the sweeper had expired them all (if that is
   * after the run, the end happened without load); null: not within a minute after the run.
   */
  released_after_seconds: number | null;
  /** Whether every hold was released while the checkouts still ran. */
  released_under_load: boolean;
}

/** How long into the measured run the holds fall due: the run first shows checkouts without the storm. */
const DUE_AFTER_MS = 2000;
/** After the run, how long to keep waiting for the sweeper to finish (then: not released). */
const RELEASE_WAIT_MAX_MS = 60_000;
const METRICS_POLL_MS = 100;
const SWEPT_METRIC = /^stockhold_expiries_total\{source="sweeper"\} (\d+)$/m;

export async function benchStorm(
  server: ChildServer,
  database_url: string,
  options: {
    holds: number;
    skus: number;
    connections: number;
    duration_seconds: number;
    warmup_seconds: number;
  },
): Promise<StormResult> {
  await drive(server, 'hot', { connections: options.connections, duration_seconds: options.warmup_seconds });
  // Pending holds seeded straight into the tables beside the running server, falling due in the
  // measured run. The second of deadlines they spread over ends at `last_due_ms`.
  const due_at_ms = Date.now() + DUE_AFTER_MS;
  const last_due_ms = due_at_ms + 1000;
  const store = await openMigratedStore(
    loadConfig({ DATABASE_URL: database_url, PG_STATEMENT_TIMEOUT_MS: '600000' }, undefined),
  );
  try {
    await seedExpired(rawDatabase(store), store.dialect, options.holds, options.skus, due_at_ms);
  } finally {
    await store.close();
  }
  const swept_before = await sweptOrders(server);
  let released_at_ms: number | null = null;
  let poll_until_ms = Number.POSITIVE_INFINITY;
  const poller = (async () => {
    while (released_at_ms === null && Date.now() < poll_until_ms) {
      if ((await sweptOrders(server)) - swept_before >= options.holds) released_at_ms = Date.now();
      else await new Promise((resolve) => setTimeout(resolve, METRICS_POLL_MS));
    }
  })();
  const result = await drive(server, 'hot', {
    connections: options.connections,
    duration_seconds: options.duration_seconds,
  });
  const run_ended_ms = Date.now();
  poll_until_ms = run_ended_ms + RELEASE_WAIT_MAX_MS;
  await poller;
  return {
    holds: options.holds,
    checkouts_per_second: result.checkouts_per_second,
    p50_ms: result.p50_ms,
    p99_ms: result.p99_ms,
    errors: result.errors,
    released_after_seconds: released_at_ms === null ? null : Math.max(0, released_at_ms - last_due_ms) / 1000,
    released_under_load: released_at_ms !== null && released_at_ms <= run_ended_ms,
  };
}

/** Orders the server's sweeper has expired since it started, from its /metrics. */
async function sweptOrders(server: ChildServer): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`, { headers: server.request_headers })).text();
  return Number(SWEPT_METRIC.exec(text)?.[1] ?? 0);
}
