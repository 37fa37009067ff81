// The pure rules of drops (issue 24): phases, the lapse of an admission, the admission plan (rate,
// burst cap, pause, sold out), the queue a ticket reads, and the poll hint.
import { describe, expect, it } from 'vitest';
import {
  ADMISSION_BURST_MS,
  type DropState,
  dropPhase,
  planAdmission,
  pollAfterSeconds,
  type TicketState,
  ticketQueue,
  ticketStatus,
} from '../../src/core/drops.ts';

const START = 1_000_000;

function drop(extra: Partial<DropState> = {}): DropState {
  return {
    id: 'd',
    skus: ['a'],
    starts_at_ms: START,
    ends_at_ms: null,
    admission_per_second: 10,
    admission_seconds: 60,
    max_per_customer: null,
    created_at_ms: 0,
    positioned: true,
    next_position: 100,
    admitted_through: 0,
    admission_clock_ms: START,
    sold_out_at_ms: null,
    ...extra,
  };
}

function ticket(extra: Partial<TicketState> = {}): TicketState {
  return {
    id: 't',
    drop_id: 'd',
    customer_id: 'c',
    joined_at_ms: 0,
    draw: 1,
    position: 50,
    status: 'waiting',
    admission_token: 'adm_x',
    admitted_at_ms: null,
    admission_expires_at_ms: null,
    used_at_ms: null,
    order_id: null,
    ...extra,
  };
}

const stock = [{ available: 500, on_hold: 0 }];

describe('drop rules', () => {
  it('has a phase by the clock, sold out once recorded', () => {
    expect(dropPhase(drop(), START - 1)).toBe('open');
    expect(dropPhase(drop(), START)).toBe('running');
    expect(dropPhase(drop({ ends_at_ms: START + 10 }), START + 10)).toBe('over');
    expect(dropPhase(drop({ sold_out_at_ms: START + 5 }), START + 1)).toBe('sold_out');
  });

  it('lapses an admission at its deadline, as a hold', () => {
    const admitted = ticket({ status: 'admitted', admission_expires_at_ms: START + 60_000 });
    expect(ticketStatus(admitted, START + 59_999)).toBe('admitted');
    expect(ticketStatus(admitted, START + 60_000)).toBe('expired');
  });

  it('admits at the rate from the clock, never more than the queue, banking at most a burst', () => {
    expect(planAdmission(drop(), stock, START + 1000)).toEqual({
      kind: 'admit',
      through: 10,
      admission_clock_ms: START + 1000,
    });
    // 250 ms at 10/s: two tickets, the clock advanced by their 200 ms only.
    expect(planAdmission(drop(), stock, START + 250)).toEqual({
      kind: 'admit',
      through: 2,
      admission_clock_ms: START + 200,
    });
    const late = planAdmission(drop(), stock, START + 60_000);
    expect(late).toMatchObject({ kind: 'admit', through: (10 * ADMISSION_BURST_MS) / 1000 });
    // A short queue: all of it, and the clock at now (nothing banked).
    expect(planAdmission(drop({ next_position: 3 }), stock, START + 1000)).toEqual({
      kind: 'admit',
      through: 3,
      admission_clock_ms: START + 1000,
    });
  });

  it('admits no more than the units available beyond one for each open admission', () => {
    const five = [{ available: 5, on_hold: 0 }];
    expect(planAdmission(drop(), five, START + 1000, 3)).toEqual({
      kind: 'admit',
      through: 2,
      admission_clock_ms: START + 1000,
    });
    expect(planAdmission(drop(), five, START + 1000, 5)).toEqual({
      kind: 'pause',
      admission_clock_ms: START + 1000,
    });
  });

  it('pauses while nothing is available and releases the line when all is sold', () => {
    expect(planAdmission(drop(), [{ available: 0, on_hold: 2 }], START + 5000)).toEqual({
      kind: 'pause',
      admission_clock_ms: START + 5000,
    });
    expect(planAdmission(drop(), [{ available: 0, on_hold: 0 }], START + 5000)).toEqual({ kind: 'sold_out' });
    expect(
      planAdmission(
        drop(),
        [
          { available: 0, on_hold: 0 },
          { available: 1, on_hold: 0 },
        ],
        START,
      ).kind,
    ).toBe('admit');
  });

  it('counts the positions ahead and the wait at the rate; asks to be polled sooner as the turn nears', () => {
    const running = drop({ admitted_through: 20 });
    expect(ticketQueue(running, ticket(), START)).toEqual({ ahead: 29, estimated_wait_seconds: 3 });
    expect(ticketQueue(running, ticket({ position: null }), START - 1)).toEqual({
      ahead: null,
      estimated_wait_seconds: null,
    });
    expect(pollAfterSeconds(running, ticket(), START)).toBe(2);
    expect(pollAfterSeconds(drop({ admission_per_second: 1 }), ticket({ position: 1000 }), START)).toBe(30);
    expect(pollAfterSeconds(drop(), ticket({ position: null }), START - 60_000)).toBe(15);
    const ending = drop({ admission_per_second: 1, ends_at_ms: START + 8_000 });
    expect(pollAfterSeconds(ending, ticket({ position: 1000 }), START)).toBe(2);
    expect(pollAfterSeconds(drop(), ticket({ status: 'used' }), START)).toBeNull();
    const admitted = ticket({ status: 'admitted', admission_expires_at_ms: START + 300_000 });
    expect(pollAfterSeconds(drop(), admitted, START)).toBe(5);
    expect(pollAfterSeconds(drop({ sold_out_at_ms: START }), ticket(), START)).toBeNull();
  });
});
