// Fair drops (issue 24): SKUs behind a waiting room from a start time. The rules live here, pure:
// a drop's phase, a ticket's status, how many tickets to admit now, and the gate a checkout passes.
// The store keeps the rows (src/store/drop-repository.ts); the sweeper's admitter runs the plan.
import { StockholdError } from './errors.ts';
import type { SkuState } from './types.ts';

export interface DropState {
  id: string;
  skus: string[];
  starts_at_ms: number;
  /** Past it the drop is over and its SKUs sell without admission; null: until sold out. */
  ends_at_ms: number | null;
  admission_per_second: number;
  /** How long an admission may be used. */
  admission_seconds: number;
  /** Units of the drop's SKUs one customer may hold or buy, all SKUs together; null: no limit. */
  max_per_customer: number | null;
  created_at_ms: number;
  /** Whether the tickets taken before the start have their (random) positions. */
  positioned: boolean;
  /** The last position handed out (the queue's length, every status). */
  next_position: number;
  /** Every position up to this one has been admitted (or was sold out, or lapsed). */
  admitted_through: number;
  /** The time up to which the admission rate's budget is spent. */
  admission_clock_ms: number;
  sold_out_at_ms: number | null;
}

export const DROP_PHASE = Object.freeze({
  open: 'open',
  running: 'running',
  sold_out: 'sold_out',
  over: 'over',
} as const);
export type DropPhase = (typeof DROP_PHASE)[keyof typeof DROP_PHASE];

export const TICKET_STATUS = Object.freeze({
  waiting: 'waiting',
  admitted: 'admitted',
  used: 'used',
  expired: 'expired',
  sold_out: 'sold_out',
} as const);
export type TicketStatus = (typeof TICKET_STATUS)[keyof typeof TICKET_STATUS];
export const TICKET_STATUSES = Object.values(TICKET_STATUS);

export interface TicketState {
  id: string;
  drop_id: string;
  customer_id: string;
  joined_at_ms: number;
  /** A uniformly random number drawn when the ticket was taken: the pre-queue's order. */
  draw: number;
  position: number | null;
  /** As stored; read it through ticketStatus, which applies the admission's lapse. */
  status: TicketStatus;
  /** Secret, drawn with the ticket, shown only while admitted; a checkout presents it. */
  admission_token: string;
  admitted_at_ms: number | null;
  admission_expires_at_ms: number | null;
  used_at_ms: number | null;
  order_id: string | null;
}

/** Admissions go out at most this far behind the clock: a pause or an outage banks no burst. */
export const ADMISSION_BURST_MS = 1_000;

/**
 * The drop's phase at `now_ms`. Sold out is recorded (by the admitter, which sees the buckets);
 * the others follow from the clock.
 */
export function dropPhase(drop: DropState, now_ms: number): DropPhase {
  if (drop.sold_out_at_ms !== null) return DROP_PHASE.sold_out;
  if (drop.ends_at_ms !== null && now_ms >= drop.ends_at_ms) return DROP_PHASE.over;
  return now_ms < drop.starts_at_ms ? DROP_PHASE.open : DROP_PHASE.running;
}

/** Whether the drop still governs its SKUs: a SKU is in at most one such drop. */
export function isLive(drop: DropState, now_ms: number): boolean {
  const phase = dropPhase(drop, now_ms);
  return phase === DROP_PHASE.open || phase === DROP_PHASE.running;
}

/**
 * The admission's lapse rule: an admission is valid while now < expires_at (as a hold's deadline).
 * Its SQL twin is admissionLapsed in src/store/drop-repository.ts.
 */
export function ticketStatus(ticket: TicketState, now_ms: number): TicketStatus {
  if (
    ticket.status === TICKET_STATUS.admitted &&
    ticket.admission_expires_at_ms !== null &&
    now_ms >= ticket.admission_expires_at_ms
  ) {
    return TICKET_STATUS.expired;
  }
  return ticket.status;
}

/** What the admitter does for a running drop now, given its SKUs' buckets. */
export type AdmissionPlan =
  /** Every SKU sold, nothing held: the waiting tickets are released as sold_out. */
  | { kind: 'sold_out' }
  /** Nothing to admit for (every unit held, sold or spoken for): nobody is admitted, nothing banked. */
  | { kind: 'pause'; admission_clock_ms: number }
  /** Admit the positions after admitted_through up to `through`. */
  | { kind: 'admit'; through: number; admission_clock_ms: number };

/**
 * How many to admit now: at the drop's rate from its clock (at most ADMISSION_BURST_MS of it
 * banked), never more than wait, and never more than the units available beyond one each for the
 * admissions still open (`outstanding`). Admitting past the stock would hand the last units, and
 * every unit a lapsed hold returns, to whoever checks out fastest among the admitted: the scripts
 * the line is there to slow down (`stockhold simulate --drop` measured 38% of the units to 10% of
 * shoppers without this bound, 16% with it).
 */
export function planAdmission(
  drop: DropState,
  skus: readonly Pick<SkuState, 'available' | 'on_hold'>[],
  now_ms: number,
  outstanding = 0,
): AdmissionPlan {
  if (skus.every((sku) => sku.available === 0 && sku.on_hold === 0)) return { kind: 'sold_out' };
  const open_units = skus.reduce((sum, sku) => sum + sku.available, 0) - outstanding;
  // Never back: a pass from a process whose clock is behind would otherwise hand the next pass on
  // time the difference as budget.
  if (open_units <= 0)
    return { kind: 'pause', admission_clock_ms: Math.max(drop.admission_clock_ms, now_ms) };
  const clock_ms = Math.max(drop.admission_clock_ms, drop.starts_at_ms, now_ms - ADMISSION_BURST_MS);
  const budget = Math.max(0, Math.floor(((now_ms - clock_ms) * drop.admission_per_second) / 1000));
  const waiting = drop.next_position - drop.admitted_through;
  const admitted = Math.min(budget, waiting, open_units);
  // A short queue or short stock banks nothing: the next ticket waits its turn at the rate.
  const admission_clock_ms =
    admitted < budget ? now_ms : clock_ms + Math.floor((admitted * 1000) / drop.admission_per_second);
  return { kind: 'admit', through: drop.admitted_through + admitted, admission_clock_ms };
}

/** How many positions wait before this ticket's, and a wait at the drop's rate; null before the start. */
export function ticketQueue(
  drop: DropState,
  ticket: TicketState,
  now_ms: number,
): { ahead: number | null; estimated_wait_seconds: number | null } {
  if (ticket.position === null || ticketStatus(ticket, now_ms) !== TICKET_STATUS.waiting) {
    return { ahead: ticket.position === null ? null : 0, estimated_wait_seconds: null };
  }
  const ahead = Math.max(0, ticket.position - drop.admitted_through - 1);
  return { ahead, estimated_wait_seconds: Math.ceil((ahead + 1) / drop.admission_per_second) };
}

// Refusals of the drops' API, one factory each.

export function dropNotFound(drop_id: string): StockholdError {
  return new StockholdError('drop_not_found', `drop ${drop_id} does not exist`, { drop_id });
}

export function ticketNotFound(drop_id: string, ticket_id: string): StockholdError {
  return new StockholdError('ticket_not_found', `drop ${drop_id} has no ticket ${ticket_id}`, {
    drop_id,
    ticket_id,
  });
}

export function dropClosed(drop: DropState, phase: DropPhase): StockholdError {
  return new StockholdError('drop_closed', `drop ${drop.id} is ${phase}: it takes no new tickets`, {
    drop_id: drop.id,
    status: phase,
  });
}

/**
 * Why a checkout (or a change adding units) of a live drop's SKUs is refused for this customer, or
 * null when it may go on. `token` is what the request presented; `ticket` the customer's, if any;
 * `order_id` the changed order (a change needs the order that used the admission).
 */
export function admissionRefusal(
  drop: DropState,
  ticket: TicketState | undefined,
  request: { token: string | null; order_id: string | null },
  now_ms: number,
): StockholdError | null {
  const phase = dropPhase(drop, now_ms);
  if (phase === DROP_PHASE.open) {
    return new StockholdError(
      'drop_not_started',
      `drop ${drop.id} starts at ${new Date(drop.starts_at_ms).toISOString()}: take a ticket and wait for admission`,
      { drop_id: drop.id, starts_at: new Date(drop.starts_at_ms).toISOString() },
    );
  }
  if (phase !== DROP_PHASE.running) return null;
  const required = new StockholdError(
    'admission_required',
    `drop ${drop.id} is running: a checkout of its skus needs the customer's admission_token`,
    { drop_id: drop.id, skus: drop.skus },
  );
  if (ticket === undefined) return required;
  if (request.order_id !== null) return ticket.order_id === request.order_id ? null : required;
  if (request.token === null || request.token !== ticket.admission_token) return required;
  const status = ticketStatus(ticket, now_ms);
  if (status === TICKET_STATUS.expired) {
    return new StockholdError('admission_expired', `the admission to drop ${drop.id} lapsed`, {
      drop_id: drop.id,
      admission_expires_at: new Date(ticket.admission_expires_at_ms ?? now_ms).toISOString(),
    });
  }
  return status === TICKET_STATUS.admitted ? null : required;
}

/** The refusal of more units of the drop's SKUs than its max_per_customer, or null. */
export function dropLimitRefusal(drop: DropState, units: number): StockholdError | null {
  if (drop.max_per_customer === null || units <= drop.max_per_customer) return null;
  return new StockholdError(
    'limit_exceeded',
    `drop ${drop.id} allows ${drop.max_per_customer} units per customer`,
    { drop_id: drop.id, requested: units, max_per_customer: drop.max_per_customer },
  );
}

export interface DropCounts {
  tickets: number;
  waiting: number;
  admitted: number;
  used: number;
  expired: number;
  sold_out: number;
}

/** What the operator reads besides the counts: the pace and the wait of admission. */
export interface DropStats {
  counts: DropCounts;
  admitted_last_10s: number;
  time_to_admission_ms: { p50: number | null; p99: number | null };
}

export interface DropView extends DropStats {
  id: string;
  skus: string[];
  status: DropPhase;
  starts_at: string;
  ends_at: string | null;
  admission_per_second: number;
  admission_seconds: number;
  max_per_customer: number | null;
  created_at: string;
  sold_out_at: string | null;
  admitted_through: number;
}

export interface TicketView {
  id: string;
  drop_id: string;
  /** The drop's phase: a waiting page tells "the drop is over" from "still waiting". */
  drop_status: DropPhase;
  customer_id: string;
  status: TicketStatus;
  position: number | null;
  ahead: number | null;
  estimated_wait_seconds: number | null;
  joined_at: string;
  admitted_at: string | null;
  admission_token: string | null;
  admission_expires_at: string | null;
  order_id: string | null;
  /**
   * When a waiting page should ask again: sooner as its turn nears, so 100,000 waiting browsers do
   * not all poll every second; null once the ticket's status is final.
   */
  poll_after_seconds: number | null;
}

/** A waiting page polls at least this often and at most this seldom. */
export const POLL_SECONDS_MIN = 2;
export const POLL_SECONDS_MAX = 30;
export const ADMITTED_POLL_SECONDS_MAX = 5;

/** A quarter of the time left until something changes for the ticket, within the bounds. */
export function pollAfterSeconds(drop: DropState, ticket: TicketState, now_ms: number): number | null {
  const status = ticketStatus(ticket, now_ms);
  const phase = dropPhase(drop, now_ms);
  if (phase === DROP_PHASE.sold_out || phase === DROP_PHASE.over) return null;
  if (status !== TICKET_STATUS.waiting && status !== TICKET_STATUS.admitted) return null;
  const clamp = (seconds: number) =>
    Math.min(POLL_SECONDS_MAX, Math.max(POLL_SECONDS_MIN, Math.ceil(seconds / 4)));
  if (status === TICKET_STATUS.admitted) {
    // The admitted are few (the rate times admission_seconds) and their page should see the
    // admission used soon: at most every ADMITTED_POLL_SECONDS_MAX.
    const left_seconds = ((ticket.admission_expires_at_ms ?? now_ms) - now_ms) / 1000;
    return Math.min(ADMITTED_POLL_SECONDS_MAX, clamp(left_seconds));
  }
  const until_turn_seconds =
    ticket.position === null
      ? (drop.starts_at_ms - now_ms) / 1000
      : (ticketQueue(drop, ticket, now_ms).estimated_wait_seconds ?? 0);
  // The drop's end changes a waiting ticket's fate too.
  const until_end_seconds = drop.ends_at_ms === null ? Infinity : (drop.ends_at_ms - now_ms) / 1000;
  return clamp(Math.min(until_turn_seconds, until_end_seconds));
}

const iso = (ms: number): string => new Date(ms).toISOString();
const isoOrNull = (ms: number | null): string | null => (ms === null ? null : iso(ms));

export const NO_DROP_STATS: DropStats = {
  counts: { tickets: 0, waiting: 0, admitted: 0, used: 0, expired: 0, sold_out: 0 },
  admitted_last_10s: 0,
  time_to_admission_ms: { p50: null, p99: null },
};

export function dropView(drop: DropState, now_ms: number, stats: DropStats = NO_DROP_STATS): DropView {
  return {
    id: drop.id,
    skus: [...drop.skus],
    status: dropPhase(drop, now_ms),
    starts_at: iso(drop.starts_at_ms),
    ends_at: isoOrNull(drop.ends_at_ms),
    admission_per_second: drop.admission_per_second,
    admission_seconds: drop.admission_seconds,
    max_per_customer: drop.max_per_customer,
    created_at: iso(drop.created_at_ms),
    sold_out_at: isoOrNull(drop.sold_out_at_ms),
    admitted_through: drop.admitted_through,
    ...stats,
  };
}

export function ticketView(drop: DropState, ticket: TicketState, now_ms: number): TicketView {
  const status = ticketStatus(ticket, now_ms);
  const admitted = status === TICKET_STATUS.admitted;
  return {
    id: ticket.id,
    drop_id: ticket.drop_id,
    drop_status: dropPhase(drop, now_ms),
    customer_id: ticket.customer_id,
    status,
    position: ticket.position,
    ...ticketQueue(drop, ticket, now_ms),
    joined_at: iso(ticket.joined_at_ms),
    admitted_at: isoOrNull(ticket.admitted_at_ms),
    admission_token: admitted ? ticket.admission_token : null,
    admission_expires_at: admitted ? isoOrNull(ticket.admission_expires_at_ms) : null,
    order_id: ticket.order_id,
    poll_after_seconds: pollAfterSeconds(drop, ticket, now_ms),
  };
}

/** The key of a customer's ticket in a drop (one each). */
export const ticketKey = (drop_id: string, customer_id: string): string => `${drop_id}\u0000${customer_id}`;
