// The delivery worker: at its own pace it fans new outbox events out to deliveries, claims the due
// ones and posts each, signed, with a timeout; failures retry with exponential back-off and jitter
// up to a bounded number of attempts. At least once, in order per order. Endpoints are delivered
// independently: each has its own in-flight limit (one attempt while it fails) within a bounded
// total, and a finished attempt frees its slot at once, so a hanging endpoint delays only itself.
import { request as httpRequest, type OutgoingHttpHeaders } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { LookupFunction } from 'node:net';
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { isStorageUnavailable, OutageEpisodes } from '../store/storage-faults.ts';
import {
  type AttemptResult,
  type ClaimedDelivery,
  DELIVERY_STATUS,
  type DeliveryStatus,
  type WebhookRepository,
} from '../store/webhook-repository.ts';
import {
  DELIVERY_ID_HEADER,
  EVENT_ID_HEADER,
  EVENT_TYPE_HEADER,
  SIGNATURE_HEADER,
  signatureHeader,
} from './signature.ts';

/** A policy on where webhooks may be sent (issue 10: no private addresses); throws to refuse. */
export type TargetCheck = (url: URL) => Promise<void>;

export interface WebhookWorkerOptions {
  poll_interval_ms: number;
  /** Attempts in flight at once, over every endpoint. */
  batch_size: number;
  /** Attempts in flight at once to one endpoint (default 8); one while its last attempt failed. */
  endpoint_in_flight_max?: number;
  /** Outbox events fanned out per tick. */
  fan_out_batch_size: number;
  timeout_ms: number;
  attempts_max: number;
  backoff_base_ms: number;
  backoff_max_ms: number;
  check_target?: TargetCheck;
  /**
   * Resolves a target's host when connecting (`guardedLookup`): the address connected to is then
   * the address checked, even if the name's answer changed after `check_target` (DNS rebinding).
   */
  lookup?: LookupFunction;
}

export type AttemptObserver = (
  outcome: 'succeeded' | 'retry' | 'failed' | 'stale',
  duration_ms: number,
) => void;

const USER_AGENT = 'stockhold-webhooks/1';
const ENDPOINT_IN_FLIGHT_DEFAULT = 8;
/** Endpoints with due work claimed for per round: more than may be registered (ENDPOINTS_MAX). */
const ENDPOINTS_PER_ROUND_MAX = 100;
/** Delay before attempt `attempt_no + 1`: base * 2^(n-1), capped, with "equal jitter" (50-100%). */
export function backoffDelayMs(
  attempt_no: number,
  options: Pick<WebhookWorkerOptions, 'backoff_base_ms' | 'backoff_max_ms'>,
  random: () => number = Math.random,
): number {
  const ceiling = Math.min(
    options.backoff_max_ms,
    options.backoff_base_ms * 2 ** Math.min(attempt_no - 1, 30),
  );
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}

export class WebhookWorker {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<unknown> | null = null;
  private stopped = true;
  /** While the database is away: logged once, rounds spaced out, resumed by itself. */
  private readonly outages: OutageEpisodes;
  /** A finished attempt asked for a round while one was running: run another right after it. */
  private rerun = false;
  private readonly in_flight = new Map<string, number>();
  private in_flight_total = 0;
  private readonly attempts_in_flight = new Set<Promise<void>>();
  /** Endpoints whose last attempt failed: they get one attempt at a time until one succeeds. */
  private readonly failing = new Set<string>();

  constructor(
    private readonly webhooks: WebhookRepository,
    private readonly clock: Clock,
    private readonly options: WebhookWorkerOptions,
    private readonly logger: Logger,
    private readonly on_attempt: AttemptObserver = () => {},
  ) {
    this.outages = new OutageEpisodes('the webhook worker', logger);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule(this.options.poll_interval_ms);
  }

  /** Stops the schedule and waits for the attempts in flight (each bounded by its timeout). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current;
    await Promise.all(this.attempts_in_flight);
  }

  /** Attempts in flight now, in total. */
  get attempts_in_flight_count(): number {
    return this.in_flight_total;
  }

  /**
   * One round: fan out, then claim for each endpoint with due work as many deliveries as it has
   * free slots (within the total) and start them; returns how many it started. It does not wait
   * for them: each attempt frees its slot when it ends and asks for the next round.
   */
  async runOnce(): Promise<number> {
    await this.webhooks.fanOut(this.options.fan_out_batch_size, this.clock.now());
    if (this.in_flight_total >= this.options.batch_size) return 0;
    const now_ms = this.clock.now();
    const endpoint_ids = await this.webhooks.dueEndpoints(now_ms, ENDPOINTS_PER_ROUND_MAX);
    let started = 0;
    for (const endpoint_id of endpoint_ids) {
      const free = Math.min(
        this.endpointLimit(endpoint_id) - (this.in_flight.get(endpoint_id) ?? 0),
        this.options.batch_size - this.in_flight_total,
      );
      if (free <= 0) continue;
      // A claim lasts the attempt's timeout plus a margin; past it another worker may take over.
      const claimed = await this.webhooks.claimDue(
        free,
        this.clock.now(),
        this.options.timeout_ms * 2 + 5_000,
        endpoint_id,
      );
      for (const delivery of claimed) this.launch(delivery);
      started += claimed.length;
    }
    return started;
  }

  private endpointLimit(endpoint_id: string): number {
    if (this.failing.has(endpoint_id)) return 1;
    return this.options.endpoint_in_flight_max ?? ENDPOINT_IN_FLIGHT_DEFAULT;
  }

  private launch(delivery: ClaimedDelivery): void {
    const endpoint_id = delivery.endpoint_id;
    this.in_flight.set(endpoint_id, (this.in_flight.get(endpoint_id) ?? 0) + 1);
    this.in_flight_total++;
    const attempt: Promise<void> = this.attempt(delivery)
      .catch((error: unknown) => {
        // The record failed (the database went away): the claim expires and the delivery is retried.
        if (isStorageUnavailable(error)) this.outages.failed(error);
        else this.logger.error({ err: error, delivery_id: delivery.id }, 'webhook attempt not recorded');
      })
      .finally(() => {
        const left = (this.in_flight.get(endpoint_id) ?? 1) - 1;
        if (left === 0) this.in_flight.delete(endpoint_id);
        else this.in_flight.set(endpoint_id, left);
        this.in_flight_total--;
        this.attempts_in_flight.delete(attempt);
        this.wake();
      });
    this.attempts_in_flight.add(attempt);
  }

  /** A slot freed: run a round now (or right after the one running) rather than at the next poll. */
  private wake(): void {
    if (this.stopped) return;
    if (this.current) {
      this.rerun = true;
      return;
    }
    this.schedule(0);
  }

  private schedule(delay_ms: number): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.current = this.tick().finally(() => {
        this.current = null;
        if (this.stopped) return;
        const again = this.rerun;
        this.rerun = false;
        this.schedule(again ? 0 : this.outages.delayMs(this.options.poll_interval_ms));
      });
    }, delay_ms);
  }

  private async tick(): Promise<void> {
    try {
      // Keep going while rounds start work, within a bound, then yield to the timer.
      for (let round = 0; round < 10 && !this.stopped; round++) {
        if ((await this.runOnce()) === 0) break;
      }
      this.outages.succeeded();
    } catch (error) {
      // The database is unreachable for a moment: claims expire and the next tick tries again.
      if (isStorageUnavailable(error)) this.outages.failed(error);
      else this.logger.error({ err: error }, 'webhook delivery round failed');
    }
  }

  private async attempt(delivery: ClaimedDelivery): Promise<void> {
    const result = await this.send(delivery);
    if (result.ok) this.failing.delete(delivery.endpoint_id);
    else this.failing.add(delivery.endpoint_id);
    const now_ms = this.clock.now();
    let status: DeliveryStatus = DELIVERY_STATUS.succeeded;
    let next_attempt_at_ms = now_ms;
    if (!result.ok) {
      if (delivery.attempts >= this.options.attempts_max) status = DELIVERY_STATUS.failed;
      else {
        status = DELIVERY_STATUS.pending;
        next_attempt_at_ms = now_ms + backoffDelayMs(delivery.attempts, this.options);
      }
    }
    const recorded = await this.webhooks.recordAttempt(
      delivery,
      result,
      { status, next_attempt_at_ms },
      now_ms,
    );
    const outcome = !recorded
      ? 'stale'
      : status === DELIVERY_STATUS.succeeded
        ? 'succeeded'
        : status === DELIVERY_STATUS.failed
          ? 'failed'
          : 'retry';
    this.on_attempt(outcome, result.duration_ms);
    const log = {
      delivery_id: delivery.id,
      endpoint_id: delivery.endpoint_id,
      event_id: delivery.event_id,
      attempt_no: delivery.attempts,
      status_code: result.status_code,
    };
    if (outcome === 'failed')
      this.logger.warn(
        { ...log, error: result.ok ? null : result.error },
        'webhook delivery failed for good',
      );
    else if (outcome === 'retry')
      this.logger.info(
        { ...log, error: result.ok ? null : result.error, next_attempt_at_ms },
        'webhook attempt failed',
      );
  }

  private async send(delivery: ClaimedDelivery): Promise<AttemptResult> {
    const started_ms = performance.now();
    const failed = (error: string, status_code: number | null = null): AttemptResult => ({
      ok: false,
      status_code,
      duration_ms: performance.now() - started_ms,
      error,
    });
    let url: URL;
    try {
      url = parseWebhookUrl(delivery.url);
      await this.options.check_target?.(url);
    } catch (error) {
      return failed(`target refused: ${(error as Error).message}`);
    }
    try {
      const status = await post(url, {
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          [EVENT_ID_HEADER]: String(delivery.event_id),
          [EVENT_TYPE_HEADER]: delivery.event_type,
          [DELIVERY_ID_HEADER]: delivery.id,
          [SIGNATURE_HEADER]: signatureHeader(delivery.secret, Math.floor(Date.now() / 1000), delivery.body),
        },
        body: delivery.body,
        timeout_ms: this.options.timeout_ms,
        lookup: this.options.lookup,
      });
      if (status >= 200 && status < 300) {
        return { ok: true, status_code: status, duration_ms: performance.now() - started_ms };
      }
      return failed(`HTTP ${status}`, status);
    } catch (error) {
      const name = (error as Error).name;
      if (name === 'TimeoutError' || name === 'AbortError')
        return failed(`no answer within ${this.options.timeout_ms} ms`);
      return failed((error as NodeJS.ErrnoException).code ?? (error as Error).message);
    }
  }
}

/**
 * POSTs the body and resolves with the answer's status; the answer's body is not read. A redirect
 * is an answer like any other: not followed, since it could lead anywhere the target policy did not
 * check. `lookup` resolves the host at connect time (the policy's guarded lookup).
 */
function post(
  url: URL,
  options: {
    headers: OutgoingHttpHeaders;
    body: string;
    timeout_ms: number;
    lookup: LookupFunction | undefined;
  },
): Promise<number> {
  return new Promise((resolve, reject) => {
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(
      url,
      {
        method: 'POST',
        headers: { ...options.headers, 'content-length': Buffer.byteLength(options.body) },
        signal: AbortSignal.timeout(options.timeout_ms),
        ...(options.lookup ? { lookup: options.lookup } : {}),
      },
      (response) => {
        // Dropping the body frees the connection; a late abort of it is nobody's error.
        response.on('error', () => {});
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    request.on('error', reject);
    request.end(options.body);
  });
}

/** An absolute http(s) URL without credentials, or an Error saying why not. */
export function parseWebhookUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new Error('not an absolute URL');
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:')
    throw new Error('the scheme must be http or https');
  if (url.username || url.password) throw new Error('credentials in the URL are not allowed; use the secret');
  return url;
}
