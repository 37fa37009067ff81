// A drop at scale (issue 24), on a server as `npm start` runs it: a burst of tickets taken before the
// start (the random pre-queue), then admission at 1,000/s while every waiting browser polls its
// ticket. Measures the join rate, the admission rate against the drop's, and the cost of the ticket
// read (the request a waiting room multiplies), and checks every admitted position once.
import autocannon from 'autocannon';
import type { ChildServer } from './processes.ts';

export interface DropBenchOptions {
  tickets: number;
  admission_per_second: number;
  connections: number;
  /** How long the admission is watched, with the ticket reads running. */
  duration_seconds: number;
}

export interface DropBenchResult {
  tickets: number;
  joins_per_second: number;
  join_p99_ms: number;
  join_errors: number;
  /** Whether the whole burst was taken before the start (the random pre-queue). */
  burst_before_start: boolean;
  admission_per_second: number;
  admitted_per_second: number;
  /** From the start to the first admission seen: the pre-queue's positioning and the first pass. */
  first_admission_after_ms: number | null;
  ticket_reads_per_second: number;
  ticket_read_p99_ms: number;
  ticket_read_errors: number;
  /** Server CPU per ticket read, µs (the admitter's passes included: they run meanwhile). */
  ticket_read_cpu_us: number;
  /** Every position up to admitted_through was admitted exactly once (counts agree). */
  exactly_once: boolean;
}

const REQUEST_TIMEOUT_SECONDS = 10;
/** Joins measured first on a drop of its own, to set the main drop's start after the burst. */
const PROBE_TICKETS = 3_000;

type Json = Record<string, any>;

async function call(server: ChildServer, method: string, path: string, body?: unknown): Promise<Json> {
  const response = await fetch(`${server.url}${path}`, {
    method,
    headers: {
      ...server.request_headers,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const answer = (await response.json()) as Json;
  if (!response.ok) throw new Error(`${method} ${path}: ${response.status} ${JSON.stringify(answer)}`);
  return answer;
}

/** `amount` joins of distinct customers to the drop, as fast as `connections` allow; the ticket ids. */
async function burst(
  server: ChildServer,
  drop_id: string,
  amount: number,
  connections: number,
  prefix: string,
) {
  let customer = 0;
  const ticket_ids: string[] = [];
  const result = await autocannon({
    url: server.url,
    connections,
    amount,
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: [
      {
        method: 'POST',
        path: `/v1/drops/${drop_id}/tickets`,
        headers: { ...server.request_headers, 'content-type': 'application/json' },
        setupRequest(request) {
          return { ...request, body: JSON.stringify({ customer_id: `${prefix}-${customer++}` }) };
        },
        onResponse(status, body) {
          if (status === 201) ticket_ids.push((JSON.parse(body) as { id: string }).id);
        },
      },
    ],
  });
  return { result, ticket_ids };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchDrop(server: ChildServer, options: DropBenchOptions): Promise<DropBenchResult> {
  const run = Date.now().toString(36);
  await call(server, 'POST', '/v1/skus', { sku: `probe-${run}`, available: 1 });
  await call(server, 'POST', '/v1/skus', { sku: `drop-${run}`, available: options.tickets * 10 });
  // The probe's drop never starts: its joins say how fast a burst goes on this machine.
  const far = new Date(Date.now() + 24 * 3600_000).toISOString();
  await call(server, 'POST', '/v1/drops', { id: `probe-${run}`, skus: [`probe-${run}`], starts_at: far });
  const probe = await burst(
    server,
    `probe-${run}`,
    Math.min(PROBE_TICKETS, options.tickets),
    options.connections,
    'probe',
  );
  const probe_rate = Math.max(1, probe.result['2xx'] / probe.result.duration);
  const burst_seconds = options.tickets / probe_rate;
  const starts_at_ms = Date.now() + Math.ceil(burst_seconds * 1.5 * 1000) + 5_000;
  const drop_id = `drop-${run}`;
  await call(server, 'POST', '/v1/drops', {
    id: drop_id,
    skus: [drop_id],
    starts_at: new Date(starts_at_ms).toISOString(),
    admission_per_second: options.admission_per_second,
    admission_seconds: 3600,
  });
  const joined = await burst(server, drop_id, options.tickets, options.connections, 'shopper');
  const burst_before_start = Date.now() < starts_at_ms;
  await sleep(Math.max(0, starts_at_ms - Date.now()));
  let first_admission_after_ms: number | null = null;
  while (Date.now() - starts_at_ms < 30_000) {
    if ((await call(server, 'GET', `/v1/drops/${drop_id}`)).admitted_through > 0) {
      first_admission_after_ms = Date.now() - starts_at_ms;
      break;
    }
    await sleep(20);
  }
  const before = await call(server, 'GET', `/v1/drops/${drop_id}`);
  const before_ms = Date.now();
  const cpu_before_ms = server.cpuMs();
  let next = 0;
  const ids = joined.ticket_ids;
  const reads = await autocannon({
    url: server.url,
    connections: options.connections,
    duration: options.duration_seconds,
    timeout: REQUEST_TIMEOUT_SECONDS,
    requests: [
      {
        method: 'GET',
        headers: server.request_headers,
        setupRequest(request) {
          const id = ids[next++ % Math.max(1, ids.length)];
          return { ...request, path: `/v1/drops/${drop_id}/tickets/${id}` };
        },
      },
    ],
  });
  const read_cpu_ms = server.cpuMs() - cpu_before_ms;
  const after = await call(server, 'GET', `/v1/drops/${drop_id}`);
  const elapsed_s = (Date.now() - before_ms) / 1000;
  const counts = after.counts as Json;
  return {
    tickets: joined.ticket_ids.length,
    joins_per_second: joined.result['2xx'] / joined.result.duration,
    join_p99_ms: joined.result.latency.p99,
    join_errors: joined.result.non2xx + joined.result.errors,
    burst_before_start,
    admission_per_second: options.admission_per_second,
    admitted_per_second: (after.admitted_through - before.admitted_through) / elapsed_s,
    first_admission_after_ms,
    ticket_reads_per_second: reads['2xx'] / reads.duration,
    ticket_read_p99_ms: reads.latency.p99,
    ticket_read_errors: reads.non2xx + reads.errors,
    ticket_read_cpu_us: reads.requests.total > 0 ? (read_cpu_ms * 1000) / reads.requests.total : 0,
    exactly_once:
      counts.admitted + counts.used + counts.expired === after.admitted_through &&
      counts.waiting === counts.tickets - after.admitted_through,
  };
}
