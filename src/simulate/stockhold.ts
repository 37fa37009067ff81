// The fix, run for real: a stockhold server (startServer: the HTTP API, the command queue with group
// commit, the store, the sweeper) on a fresh database, driven over HTTP like a storefront would.
// Its clock is a ManualClock the runner moves in simulated seconds, so a 5-minute hold expires in
// the simulation without the run waiting 5 minutes; the runner calls the real sweeper at each step.
import http from 'node:http';
import { loadConfig } from '../config.ts';
import { ManualClock } from '../core/clock.ts';
import type { OrderView, SkuView } from '../core/views.ts';
import { createLogger } from '../logger.ts';
import { type RunningServer, startServer } from '../server.ts';
import type { ScriptLine, SkuPlan } from './script.ts';
import type { CheckoutAnswer, PaymentAnswer, StockCounters, Strategy, StrategyEnd } from './strategy.ts';

/** Ledger entries read per page when looking for the lowest `available` of a SKU. */
const LEDGER_PAGE_SIZE = 1000;
/** A request that gets no answer in this long fails the run instead of hanging it. */
const REQUEST_TIMEOUT_MS = 60_000;

/** The refusals a drop's checkout can meet (docs/drops.md); anything else fails the run. */
const CHECKOUT_REFUSALS = new Set([
  'insufficient_stock',
  'admission_required',
  'admission_expired',
  'drop_not_started',
  'limit_exceeded',
]);

export type DropCheckoutAnswer =
  | { ok: true; order_id: string; expires_at_ms: number }
  | { ok: false; code: string; short_skus: string[] };

/** The body of POST /v1/drops (docs/drops.md). */
export interface DropRequest {
  id: string;
  skus: string[];
  starts_at: string;
  admission_per_second: number;
  admission_seconds: number;
  max_per_customer?: number;
}

export type DropStatus = 'open' | 'running' | 'sold_out' | 'over';
export type TicketStatus = 'waiting' | 'admitted' | 'used' | 'expired' | 'sold_out';

/** What the simulator reads of a drop (docs/drops.md). */
export interface DropView {
  id: string;
  status: DropStatus;
  starts_at: string;
  admitted_through: number;
  counts: Record<TicketStatus | 'tickets', number>;
  time_to_admission_ms: { p50: number; p99: number } | null;
}

/** What the simulator reads of a ticket (docs/drops.md). */
export interface TicketView {
  id: string;
  status: TicketStatus;
  position: number | null;
  joined_at: string;
  admitted_at: string | null;
  admission_token: string | null;
  /** When a waiting page should ask again (null once the ticket's status is final). */
  poll_after_seconds: number | null;
}

interface ErrorAnswer {
  error: { code: string; message: string; details?: { lines?: { sku: string }[] } };
}

export class StockholdStrategy implements Strategy {
  readonly name = 'stockhold' as const;

  /** Keep-alive connections, as a storefront's backend keeps them (and far cheaper than a new one per call). */
  private readonly agent: http.Agent;
  private readonly base_url: URL;

  private constructor(
    private readonly server: RunningServer,
    private readonly clock: ManualClock,
    readonly location: string,
    private readonly hold_seconds: number,
    sockets_max: number,
  ) {
    this.agent = new http.Agent({ keepAlive: true, maxSockets: sockets_max });
    this.base_url = new URL(server.url);
  }

  /** Starts a server on `database_url` (which must be empty: the simulation owns it). */
  static async start(options: {
    database_url: string;
    location: string;
    start_ms: number;
    hold_seconds: number;
    /** HTTP connections to the server, at most. */
    sockets_max: number;
  }): Promise<StockholdStrategy> {
    const config = loadConfig(
      {
        PORT: '0',
        HOST: '127.0.0.1',
        LOG_LEVEL: 'silent',
        DATABASE_URL: options.database_url,
        DEFAULT_HOLD_SECONDS: String(options.hold_seconds),
        // The simulated shop's policy: a slow payer's one extension may double the hold, no more.
        HOLD_SECONDS_TOTAL_MAX: String(2 * options.hold_seconds),
      },
      undefined,
    );
    const clock = new ManualClock(options.start_ms);
    const server = await startServer(config, { clock, logger: createLogger('silent'), sweeper: false });
    return new StockholdStrategy(server, clock, options.location, options.hold_seconds, options.sockets_max);
  }

  private call<T>(path: string, body: unknown): Promise<{ status: number; body: T }> {
    return this.request<T>('POST', path, body);
  }

  private request<T>(
    method: 'GET' | 'POST',
    path: string,
    body?: unknown,
  ): Promise<{ status: number; body: T }> {
    const payload = body === undefined ? '' : JSON.stringify(body);
    const headers: http.OutgoingHttpHeaders =
      body === undefined
        ? {}
        : { 'content-type': 'application/json', 'content-length': Buffer.byteLength(payload) };
    return new Promise((resolve, reject) => {
      const request = http.request(
        {
          host: this.base_url.hostname,
          port: this.base_url.port,
          path,
          method,
          agent: this.agent,
          timeout: REQUEST_TIMEOUT_MS,
          headers,
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () => {
            try {
              resolve({
                status: response.statusCode ?? 0,
                body: JSON.parse(Buffer.concat(chunks).toString()) as T,
              });
            } catch (error) {
              reject(error);
            }
          });
        },
      );
      request.on('timeout', () =>
        request.destroy(new Error(`no answer to ${method} ${path} within ${REQUEST_TIMEOUT_MS} ms`)),
      );
      request.on('error', reject);
      request.end(payload);
    });
  }

  private unexpected(what: string, answer: { status: number; body: unknown }): Error {
    return new Error(`stockhold answered ${what} with ${answer.status}: ${JSON.stringify(answer.body)}`);
  }

  async setup(skus: readonly SkuPlan[]): Promise<void> {
    for (const plan of skus) {
      const answer = await this.call<SkuView>('/v1/skus', { sku: plan.sku, available: plan.stock });
      if (answer.status !== 201) throw this.unexpected('a new SKU', answer);
    }
  }

  async advanceTo(now_ms: number): Promise<void> {
    this.clock.set(now_ms);
    await this.server.sweeper.sweepOnce();
  }

  /**
   * One pass of the server's admitter at the current simulated time: the drops' pre-queues are
   * positioned, tickets admitted at their rate, lapsed admissions expired, sold-out queues released.
   */
  async admitOnce(): Promise<void> {
    await this.server.admitter.admitOnce();
  }

  /** The server's simulated time. */
  now(): number {
    return this.clock.now();
  }

  /** Moves the clock without running the sweeper: the time between two of its passes. */
  moveClock(now_ms: number): void {
    this.clock.set(now_ms);
  }

  async checkout(customer_id: string, lines: readonly ScriptLine[]): Promise<CheckoutAnswer> {
    const answer = await this.checkoutUnder(customer_id, lines, null);
    if (answer.ok) return { ok: true, order_id: answer.order_id };
    if (answer.code === 'insufficient_stock') return { ok: false, short_skus: answer.short_skus };
    throw new Error(`stockhold refused a checkout with ${answer.code}`);
  }

  /**
   * A checkout that may carry an admission token (docs/drops.md): answers the hold and its deadline,
   * or the refusal's code for every refusal a shopper of a drop can meet.
   */
  async checkoutUnder(
    customer_id: string,
    lines: readonly ScriptLine[],
    admission_token: string | null,
  ): Promise<DropCheckoutAnswer> {
    const answer = await this.call<OrderView | ErrorAnswer>('/v1/orders', {
      customer_id,
      lines,
      hold_seconds: this.hold_seconds,
      ...(admission_token === null ? {} : { admission_token }),
    });
    if (answer.status === 201) {
      const order = answer.body as OrderView;
      return { ok: true, order_id: order.id, expires_at_ms: Date.parse(order.expires_at) };
    }
    const code = (answer.body as ErrorAnswer).error?.code;
    if ((answer.status === 409 || answer.status === 403) && code !== undefined && CHECKOUT_REFUSALS.has(code))
      return {
        ok: false,
        code,
        short_skus: (answer.body as ErrorAnswer).error.details?.lines?.map((line) => line.sku) ?? [],
      };
    throw this.unexpected('a checkout', answer);
  }

  /** POST /v1/drops: the waiting room in front of `skus`. */
  async createDrop(drop: DropRequest): Promise<DropView> {
    const answer = await this.call<DropView>('/v1/drops', drop);
    if (answer.status !== 201) throw this.unexpected('a new drop', answer);
    return answer.body;
  }

  async readDrop(drop_id: string): Promise<DropView> {
    const answer = await this.request<DropView>('GET', `/v1/drops/${encodeURIComponent(drop_id)}`);
    if (answer.status !== 200) throw this.unexpected('a read of a drop', answer);
    return answer.body;
  }

  async takeTicket(drop_id: string, customer_id: string): Promise<TicketView> {
    const answer = await this.call<TicketView>(`/v1/drops/${encodeURIComponent(drop_id)}/tickets`, {
      customer_id,
    });
    if (answer.status !== 201 && answer.status !== 200) throw this.unexpected('a ticket', answer);
    return answer.body;
  }

  async readTicket(drop_id: string, ticket_id: string): Promise<TicketView> {
    const answer = await this.request<TicketView>(
      'GET',
      `/v1/drops/${encodeURIComponent(drop_id)}/tickets/${encodeURIComponent(ticket_id)}`,
    );
    if (answer.status !== 200) throw this.unexpected('a read of a ticket', answer);
    return answer.body;
  }

  async pay(order_id: string, payment_id: string): Promise<PaymentAnswer> {
    const answer = await this.call<OrderView | ErrorAnswer>(`/v1/orders/${order_id}/payment`, { payment_id });
    if (answer.status === 200) return { ok: true, late: (answer.body as OrderView).late === true };
    if (answer.status === 409 && (answer.body as ErrorAnswer).error?.code === 'order_expired')
      return { ok: false };
    throw this.unexpected('a payment', answer);
  }

  async cancel(order_id: string): Promise<void> {
    const answer = await this.call<OrderView | ErrorAnswer>(`/v1/orders/${order_id}/cancel`, {});
    // A shopper who cancels after the deadline finds the order already expired: the same stock outcome.
    if (answer.status === 200) return;
    if (answer.status === 409 && (answer.body as ErrorAnswer).error?.code === 'order_expired') return;
    throw this.unexpected('a cancel', answer);
  }

  async extend(order_id: string, seconds: number): Promise<boolean> {
    const answer = await this.call<OrderView | ErrorAnswer>(`/v1/orders/${order_id}/extension`, {
      seconds,
      reason: 'payment is slow',
    });
    // Asked before the deadline, once, within the cap: anything but an extension is a bug.
    if (answer.status === 200) return true;
    throw this.unexpected('an extension', answer);
  }

  async counters(skus: readonly string[]): Promise<Record<string, StockCounters>> {
    const counters: Record<string, StockCounters> = {};
    for (const sku of skus) {
      const state = await this.server.store.getSku(sku);
      counters[sku] = { available: state?.available ?? 0, on_hold: state?.on_hold ?? 0 };
    }
    return counters;
  }

  /** The lowest `available` the ledger ever recorded for the SKU: every movement, not a sample. */
  private async minimumAvailable(sku: string): Promise<number> {
    let minimum = Number.POSITIVE_INFINITY;
    let after_seq: number | undefined;
    for (;;) {
      const page = await this.server.store.ledger(sku, LEDGER_PAGE_SIZE, after_seq);
      for (const entry of page) minimum = Math.min(minimum, entry.available_after);
      const last = page.at(-1);
      if (page.length < LEDGER_PAGE_SIZE || last === undefined) return minimum;
      after_seq = last.seq;
    }
  }

  async finish(skus: readonly string[]): Promise<StrategyEnd> {
    const min_available: Record<string, number> = {};
    for (const sku of skus) min_available[sku] = await this.minimumAvailable(sku);
    const expired_holds = await this.server.store.metric_reads.expiredOrderCount();
    const audit = await this.server.store.audit();
    return {
      counters: await this.counters(skus),
      min_available,
      expired_holds,
      audit_problems: audit.problems,
    };
  }

  /** The running server, for tests that check the store itself. */
  get running(): RunningServer {
    return this.server;
  }

  close(): Promise<void> {
    this.agent.destroy();
    return this.server.close();
  }
}
