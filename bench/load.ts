// One measured case: a server (ceiling or stockhold) driven by autocannon with checkouts of the hot
// SKU or of a SKU drawn uniformly, with the server's RSS read before and after.
import autocannon, { type Result } from 'autocannon';
import { loadConfig } from '../src/config.ts';
import { openMigratedStore } from '../src/server.ts';
import { type ChildServer, machineCpuMs } from './processes.ts';

/**
 * hot: one SKU everybody buys; uniform: 10,000 SKUs drawn uniformly; limited: the hot SKU with a
 * max_per_customer, so every checkout also reads what its customer already holds or bought.
 * read: GET /v1/skus/{sku} of the hot SKU; health: GET /healthz. The last two write nothing.
 */
export type Workload = 'hot' | 'uniform' | 'limited' | 'read' | 'health';
export const WORKLOADS: readonly Workload[] = ['hot', 'uniform', 'limited', 'read', 'health'];
/** Workloads that only read: stockhold's coalescing of writes does not apply, one path is measured. */
export const READ_WORKLOADS: readonly Workload[] = ['read', 'health'];
export type Mode = 'ceiling' | 'naive' | 'coalesced';

export const HOT_SKU = 'hot';
/** Units of the hot SKU: far more than any run sells, so checkouts succeed throughout. */
export const HOT_AVAILABLE = 1_000_000_000;
/** The limited workload's max_per_customer (each checkout is a new customer: none is refused). */
export const LIMITED_MAX_PER_CUSTOMER = 5;
export const UNIFORM_SKUS = 10_000;
export const UNIFORM_AVAILABLE = 1_000;
/** SKUs created per transaction while seeding. */
const SEED_BATCH_SKUS = 500;
/** A request that takes longer than this counts as an error (autocannon's timeout). */
const REQUEST_TIMEOUT_SECONDS = 10;

export interface LoadResult {
  /** Successful (2xx) answers per second: checkouts, or reads for the read workloads. */
  checkouts_per_second: number;
  requests_total: number;
  successes: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
  errors: number;
  status_codes: Record<string, number>;
  rss_before_bytes: number;
  rss_after_bytes: number;
  duration_seconds: number;
  /**
   * CPU time per answered request, in µs: the server process (all its threads), the load generator
   * (autocannon, in this process), and everything else on the machine (PostgreSQL's processes).
   * With both cores busy all the time, 2 cores / their sum is the most this machine can answer.
   */
  cpu_us_per_request: { server: number; load_generator: number; other: number };
}

export function uniformSku(index: number): string {
  return `sku-${String(index).padStart(5, '0')}`;
}

/** Creates the SKUs a workload checks out, through the store, before the server starts. */
export async function seedSkus(database_url: string, workload: Workload): Promise<void> {
  const store = await openMigratedStore(loadConfig({ DATABASE_URL: database_url }, undefined));
  try {
    const skus =
      workload === 'uniform'
        ? Array.from({ length: UNIFORM_SKUS }, (_, i) => ({
            sku: uniformSku(i),
            available: UNIFORM_AVAILABLE,
            max_per_customer: null,
          }))
        : [
            {
              sku: HOT_SKU,
              available: HOT_AVAILABLE,
              max_per_customer: workload === 'limited' ? LIMITED_MAX_PER_CUSTOMER : null,
            },
          ];
    for (let start = 0; start < skus.length; start += SEED_BATCH_SKUS) {
      const envelopes = skus
        .slice(start, start + SEED_BATCH_SKUS)
        .map(({ sku, available, max_per_customer }) => ({
          command: { kind: 'create_sku' as const, sku, name: sku, available, max_per_customer },
        }));
      const results = await store.execute(envelopes, Date.now());
      const refused = results.find((result) => !result.outcome.ok);
      if (refused) throw new Error(`seeding SKUs: ${JSON.stringify(refused.outcome)}`);
    }
  } finally {
    await store.close();
  }
}

/** GET /healthz, GET /v1/skus/{hot SKU}, or a checkout for the workloads that write. */
function workloadRequest(
  workload: Workload,
  headers: Readonly<Record<string, string>>,
  idempotency_keys: boolean,
) {
  if (workload === 'health') return { method: 'GET', path: '/healthz', headers };
  if (workload === 'read') return { method: 'GET', path: `/v1/skus/${HOT_SKU}`, headers };
  return checkoutRequest(workload, headers, idempotency_keys);
}

/**
 * POST /v1/orders, one unit, a new customer each time; the SKU is the hot one or drawn uniformly.
 * With `idempotency_keys`, each carries a new Idempotency-Key, as a storefront's retries need.
 */
function checkoutRequest(
  workload: Workload,
  headers: Readonly<Record<string, string>>,
  idempotency_keys: boolean,
) {
  let customer = 0;
  // Keys of one run never meet those of another on the same database.
  const run = `${process.pid}-${Date.now()}`;
  return {
    method: 'POST',
    path: '/v1/orders',
    headers: { ...headers, 'content-type': 'application/json' },
    setupRequest(request: { body?: string; headers?: Record<string, string> }) {
      customer += 1;
      const sku = workload === 'uniform' ? uniformSku(Math.floor(Math.random() * UNIFORM_SKUS)) : HOT_SKU;
      request.body = JSON.stringify({ customer_id: `shopper-${customer}`, lines: [{ sku, quantity: 1 }] });
      if (idempotency_keys) request.headers = { ...request.headers, 'idempotency-key': `${run}-${customer}` };
      return request;
    },
  };
}

export async function drive(
  server: ChildServer,
  workload: Workload,
  options: { connections: number; duration_seconds?: number; amount?: number; idempotency_keys?: boolean },
): Promise<LoadResult> {
  const rss_before_bytes = server.rssBytes();
  const server_cpu_start_ms = server.cpuMs();
  const machine_cpu_start_ms = machineCpuMs();
  const own_cpu_start = process.cpuUsage();
  const result: Result = await autocannon({
    url: server.url,
    connections: options.connections,
    // autocannon refuses `duration: undefined`: pass only the bound that is set.
    ...(options.duration_seconds === undefined ? {} : { duration: options.duration_seconds }),
    ...(options.amount === undefined ? {} : { amount: options.amount }),
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: [workloadRequest(workload, server.request_headers, options.idempotency_keys ?? false)],
  });
  const rss_after_bytes = server.rssBytes();
  const own_cpu = process.cpuUsage(own_cpu_start);
  const server_cpu_ms = server.cpuMs() - server_cpu_start_ms;
  const load_generator_cpu_ms = (own_cpu.user + own_cpu.system) / 1000;
  const other_cpu_ms = Math.max(
    0,
    machineCpuMs() - machine_cpu_start_ms - server_cpu_ms - load_generator_cpu_ms,
  );
  const per_request = (cpu_ms: number) =>
    result.requests.total > 0 ? (cpu_ms * 1000) / result.requests.total : 0;
  const status_codes: Record<string, number> = {};
  for (const [code, { count }] of Object.entries(result.statusCodeStats ?? {})) status_codes[code] = count;
  return {
    checkouts_per_second: result['2xx'] / result.duration,
    requests_total: result.requests.total,
    successes: result['2xx'],
    p50_ms: result.latency.p50,
    p99_ms: result.latency.p99,
    max_ms: result.latency.max,
    errors: result.non2xx + result.errors,
    status_codes,
    rss_before_bytes,
    rss_after_bytes,
    duration_seconds: result.duration,
    cpu_us_per_request: {
      server: per_request(server_cpu_ms),
      load_generator: per_request(load_generator_cpu_ms),
      other: per_request(other_cpu_ms),
    },
  };
}
