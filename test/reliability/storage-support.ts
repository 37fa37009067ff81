// Shared by the storage-outage tests: a checkout load that records every answer, the checks on
// those answers (2xx or 503 storage_unavailable with Retry-After, never a 500), and the check that
// every acknowledged checkout is in the database afterwards.
import { expect } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { apiClient } from '../support/server.ts';

export interface Answer {
  status: number;
  code: string | null;
  retry_after: string | null;
  /** The order of an acknowledged (201) checkout, and what it held. */
  order_id: string | null;
  quantity: number;
}

export interface Load {
  answers: Answer[];
  /** Acknowledged checkouts so far. */
  held(): number;
  /** Ends the load and waits for the requests in flight. */
  stop(): Promise<Answer[]>;
}

/**
 * `clients` loops of checkouts of `sku` (1 or 2 units), until stopped or `requests_max` each.
 * A request that fails without an answer is a test failure: the server must stay up.
 */
export function startCheckoutLoad(
  base_url: string,
  sku: string,
  options: { clients?: number; requests_max?: number; headers?: Record<string, string> } = {},
): Load {
  const { clients = 12, requests_max = 5000, headers = {} } = options;
  const api = apiClient(base_url);
  const answers: Answer[] = [];
  let stopped = false;
  const client = async (n: number) => {
    for (let i = 0; i < requests_max && !stopped; i++) {
      const quantity = 1 + (i % 2);
      const response = await api
        .post(
          '/v1/orders',
          { customer_id: `c${n}-${i}`, lines: [{ sku, quantity }], hold_seconds: 3600 },
          headers,
        )
        .catch(() => null);
      if (response === null) {
        // No answer at all (the server is gone): recorded, and this client stops.
        answers.push({ status: 0, code: 'no_answer', retry_after: null, order_id: null, quantity });
        return;
      }
      answers.push({
        status: response.status,
        code: response.body?.error?.code ?? null,
        retry_after: response.headers.get('retry-after'),
        order_id: response.status === 201 ? response.body.id : null,
        quantity,
      });
    }
  };
  const running = Promise.all(Array.from({ length: clients }, (_, n) => client(n)));
  // A test that fails half-way leaves it running; it ends when the server does.
  running.catch(() => {});
  return {
    answers,
    held: () => answers.filter((answer) => answer.status === 201).length,
    async stop() {
      stopped = true;
      await running;
      return answers;
    },
  };
}

/** Waits (bounded) until `condition` holds; false if it never did. */
export async function waitUntil(condition: () => boolean | Promise<boolean>, timeout_ms = 30_000) {
  for (const started_ms = Date.now(); Date.now() - started_ms < timeout_ms; ) {
    if (await condition()) return true;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return condition();
}

/** Every answer is 201, or 503 storage_unavailable with a Retry-After: never a 500. */
export function expectHeldOrUnavailable(answers: readonly Answer[]): void {
  const other = answers.filter(
    (answer) =>
      answer.status !== 201 &&
      !(answer.status === 503 && answer.code === 'storage_unavailable' && Number(answer.retry_after) > 0),
  );
  expect(other.slice(0, 5), `${other.length} answers of ${answers.length} were neither`).toEqual([]);
}

/** Polls /readyz (bounded) until it answers `status`. */
export async function readyzBecomes(base_url: string, status: number, timeout_ms = 30_000): Promise<number> {
  const api = apiClient(base_url);
  let last = 0;
  await waitUntil(async () => {
    last = (await api.get('/readyz')).status;
    return last === status;
  }, timeout_ms);
  return last;
}

/** Checkouts succeed again (a bounded wait for the first), then `count` in a row. */
export async function expectCheckoutsSucceed(
  base_url: string,
  sku: string,
  headers: Record<string, string> = {},
  count = 5,
): Promise<string[]> {
  const api = apiClient(base_url);
  const checkout = (i: number) =>
    api.post(
      '/v1/orders',
      { customer_id: `after-${i}`, lines: [{ sku, quantity: 1 }], hold_seconds: 3600 },
      headers,
    );
  let first = 0;
  await waitUntil(async () => {
    first = (await checkout(-1)).status;
    return first === 201;
  });
  expect(first).toBe(201);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const response = await checkout(i);
    expect(response.status).toBe(201);
    ids.push(response.body.id);
  }
  return ids;
}

/** Every acknowledged checkout is in the database, holding what it was answered with. */
export async function expectAcknowledgedPresent(store: KyselyStore, answers: readonly Answer[]) {
  const missing: string[] = [];
  for (const answer of answers) {
    if (answer.order_id === null) continue;
    const order = await store.getOrder(answer.order_id);
    if (order === null || order.lines[0]?.quantity !== answer.quantity) missing.push(answer.order_id);
  }
  expect(missing).toEqual([]);
}

/** Error-level lines (pino level 50) that are not an outage's opening line: none is expected. */
export function otherErrorLines(output: readonly string[]): string[] {
  return output.filter(
    (line) => line.includes('"level":50') && !line.includes('the database is unavailable'),
  );
}

/**
 * How a lost PostgreSQL shows in the log: its own code (57P01 admin_shutdown), or the socket's
 * error when the server went before it could say why.
 */
export const POSTGRES_LOST_CAUSE = /57P0\d|EPIPE|ECONNRESET|ECONNREFUSED|Connection terminated/;

/** The lines the server logged that open an outage episode (one per source and episode). */
export function outageLines(output: readonly string[]): { source: string; cause: string }[] {
  const lines: { source: string; cause: string }[] = [];
  for (const line of output) {
    let entry: { msg?: string; source?: string; cause?: string };
    try {
      entry = JSON.parse(line);
    } catch {
      continue;
    }
    if (entry.msg?.includes('the database is unavailable') && entry.source && entry.cause)
      lines.push({ source: entry.source, cause: entry.cause });
  }
  return lines;
}
