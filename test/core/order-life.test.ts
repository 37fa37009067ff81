// The decisions of a hold's later life (issue 23), pure and without a database: extension against
// both caps, a change of a held order's lines, partial capture (in time and late), and returns.
// Every refusal moves nothing; every acceptance records exactly the effects the store writes.
import { describe, expect, it } from 'vitest';
import { definitionOf } from '../../src/core/commands.ts';
import type { ChangeOrderCommand, ExtendCommand, OrderState, SkuState } from '../../src/core/types.ts';
import { validateCommand } from '../../src/core/validate.ts';
import { Workspace } from '../../src/core/workspace.ts';
import { pendingOrder, skuState, T0 } from '../support/states.ts';

const sku = (id: string, available: number, extra: Partial<SkuState> = {}): SkuState =>
  skuState(id, { available, ...extra });

/** A workspace at `now_ms` holding order o1 (a: 2, b: 1, pending until T0 + 60 s) over SKUs a and b. */
function held(now_ms = T0 + 1000, extra: Partial<OrderState> = {}): Workspace {
  const workspace = new Workspace(now_ms);
  workspace.loadSku(sku('a', 5, { on_hold: 2 }));
  workspace.loadSku(sku('b', 5, { on_hold: 1 }));
  workspace.loadSku(sku('c', 1));
  workspace.loadOrder(
    pendingOrder(
      'o1',
      [
        { sku: 'a', quantity: 2 },
        { sku: 'b', quantity: 1 },
      ],
      extra,
    ),
  );
  return workspace;
}

const extend = (seconds: number, extra: Partial<ExtendCommand> = {}): ExtendCommand => ({
  kind: 'extend',
  order_id: 'o1',
  seconds,
  reason: null,
  extensions_max: 2,
  hold_seconds_total_max: 300,
  ...extra,
});

const buckets = (workspace: Workspace, id: string) => {
  const { available, on_hold, sold } = workspace.skus.get(id) ?? {};
  return { available, on_hold, sold };
};

describe('extend', () => {
  it('moves the deadline later, counts it, reschedules the holds and writes no ledger entry', () => {
    const workspace = held();
    const decision = workspace.extend(extend(120, { reason: 'slow bank' }));
    expect(decision).toMatchObject({ ok: true, value: { extensions: 1 } });
    expect(workspace.orders.get('o1')?.expires_at_ms).toBe(T0 + 180_000);
    const effects = workspace.effects();
    expect(effects.holds_rescheduled).toEqual([{ order_id: 'o1', expires_at_ms: T0 + 180_000 }]);
    expect(effects.ledger).toEqual([]);
    expect(effects.events.map((event) => [event.type, event.data.reason])).toEqual([
      ['order.extended', 'slow bank'],
    ]);
  });

  it('refuses past either cap with the count and the latest deadline, changing nothing', () => {
    const too_far = held().extend(extend(241));
    expect(too_far).toMatchObject({
      ok: false,
      error: {
        code: 'extension_limit',
        details: {
          extensions: 0,
          extensions_max: 2,
          latest_expires_at: new Date(T0 + 300_000).toISOString(),
        },
      },
    });
    const workspace = held(T0 + 1000, { extensions: 2 });
    expect(workspace.extend(extend(1))).toMatchObject({ ok: false, error: { code: 'extension_limit' } });
    expect(workspace.effects().orders_changed).toEqual([]);
  });

  it('expires a lapsed hold in the same decision and refuses it; refuses paid and cancelled orders', () => {
    const lapsed = held(T0 + 60_000);
    expect(lapsed.extend(extend(10))).toMatchObject({ ok: false, error: { code: 'order_expired' } });
    expect(lapsed.effects().events.map((event) => event.type)).toEqual(['order.expired']);
    expect(held(T0, { status: 'paid' }).extend(extend(10))).toMatchObject({ error: { code: 'order_paid' } });
    expect(held(T0, { status: 'cancelled' }).extend(extend(10))).toMatchObject({
      error: { code: 'order_cancelled' },
    });
  });

  it('is invalid outside 1..86400 seconds', () => {
    expect(validateCommand(extend(0))?.code).toBe('invalid_request');
    expect(validateCommand(extend(86_401))?.code).toBe('invalid_request');
    expect(validateCommand(extend(86_400))).toBeNull();
  });
});

describe('change_order', () => {
  it('holds increases and releases decreases, replacing lines and holds, the deadline kept', () => {
    const workspace = held();
    const decision = workspace.changeOrder({
      kind: 'change_order',
      order_id: 'o1',
      lines: [
        { sku: 'a', quantity: 3 },
        { sku: 'c', quantity: 1 },
      ],
    });
    expect(decision.ok).toBe(true);
    expect(buckets(workspace, 'a')).toEqual({ available: 4, on_hold: 3, sold: 0 });
    expect(buckets(workspace, 'b')).toEqual({ available: 6, on_hold: 0, sold: 0 });
    expect(buckets(workspace, 'c')).toEqual({ available: 0, on_hold: 1, sold: 0 });
    const effects = workspace.effects();
    expect(effects.ledger.map((entry) => [entry.sku, entry.kind])).toEqual([
      ['a', 'change_hold'],
      ['b', 'change_release'],
      ['c', 'change_hold'],
    ]);
    expect(effects.holds_replaced).toEqual([
      {
        order_id: 'o1',
        holds: [
          { order_id: 'o1', sku: 'a', quantity: 3, expires_at_ms: T0 + 60_000 },
          { order_id: 'o1', sku: 'c', quantity: 1, expires_at_ms: T0 + 60_000 },
        ],
      },
    ]);
    expect(effects.order_lines_replaced).toHaveLength(1);
    const changed = effects.events.find((event) => event.type === 'order.changed');
    const skus = (changed?.data.skus ?? []) as { sku: string }[];
    expect(skus.map((each) => each.sku)).toEqual(['a', 'c', 'b']);
  });

  it('refuses a short increase naming each short line, and moves nothing', () => {
    const workspace = held();
    const decision = workspace.changeOrder({
      kind: 'change_order',
      order_id: 'o1',
      lines: [{ sku: 'c', quantity: 2 }],
    });
    expect(decision).toMatchObject({
      ok: false,
      error: { code: 'insufficient_stock', details: { lines: [{ sku: 'c', requested: 2, available: 1 }] } },
    });
    expect(workspace.ledger).toEqual([]);
  });

  it('applies max_per_customer to the new totals, without the order counted twice', () => {
    const workspace = held();
    workspace.skus.set('a', { ...sku('a', 5, { on_hold: 2 }), max_per_customer: 3 });
    workspace.loadUsage('alice', 'a', 2);
    const within = workspace.changeOrder({
      kind: 'change_order',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 3 }],
    });
    expect(within.ok).toBe(true);
    const over = workspace.changeOrder({
      kind: 'change_order',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 4 }],
    });
    expect(over).toMatchObject({ ok: false, error: { code: 'limit_exceeded' } });
  });

  it('is invalid without lines, and its definition loads old and new SKUs and may reclaim', () => {
    expect(validateCommand({ kind: 'change_order', order_id: 'o1', lines: [] })?.code).toBe(
      'invalid_request',
    );
    const workspace = held();
    const command: ChangeOrderCommand = {
      kind: 'change_order',
      order_id: 'o1',
      lines: [{ sku: 'c', quantity: 1 }],
    };
    expect(definitionOf(command).skus(command, workspace)).toEqual(['a', 'b', 'c']);
    expect(definitionOf(command).reclaims_when_short).toBe(true);
  });
});

describe('partial capture', () => {
  it('sells the lines named and releases the rest in the same decision', () => {
    const workspace = held();
    const decision = workspace.pay({
      kind: 'pay',
      order_id: 'o1',
      payment_id: 'p',
      lines: [{ sku: 'a', quantity: 1 }],
    });
    expect(decision).toMatchObject({
      ok: true,
      value: {
        status: 'paid',
        sold_lines: [{ sku: 'a', quantity: 1 }],
        released_lines: [
          { sku: 'a', quantity: 1 },
          { sku: 'b', quantity: 1 },
        ],
      },
    });
    expect(buckets(workspace, 'a')).toEqual({ available: 6, on_hold: 0, sold: 1 });
    expect(buckets(workspace, 'b')).toEqual({ available: 6, on_hold: 0, sold: 0 });
    expect(workspace.effects().sold_lines_placed).toEqual([
      { order_id: 'o1', lines: [{ sku: 'a', quantity: 1 }] },
    ]);
  });

  it('refuses more than held, or a SKU not held, as capture_exceeds_hold, moving nothing', () => {
    const workspace = held();
    const decision = workspace.pay({
      kind: 'pay',
      order_id: 'o1',
      payment_id: 'p',
      lines: [
        { sku: 'a', quantity: 3 },
        { sku: 'c', quantity: 1 },
      ],
    });
    expect(decision).toMatchObject({
      ok: false,
      error: {
        code: 'capture_exceeds_hold',
        details: {
          lines: [
            { sku: 'a', requested: 3, held: 2 },
            { sku: 'c', requested: 1, held: 0 },
          ],
        },
      },
    });
    expect(workspace.ledger).toEqual([]);
  });

  it('late, re-acquires only the lines named', () => {
    const workspace = held(T0 + 60_000);
    const decision = workspace.pay({
      kind: 'pay',
      order_id: 'o1',
      payment_id: 'p',
      lines: [{ sku: 'b', quantity: 1 }],
    });
    expect(decision).toMatchObject({
      ok: true,
      value: { late: true, sold_lines: [{ sku: 'b', quantity: 1 }] },
    });
    expect(buckets(workspace, 'a')).toEqual({ available: 7, on_hold: 0, sold: 0 });
    expect(buckets(workspace, 'b')).toEqual({ available: 5, on_hold: 0, sold: 1 });
  });
});

describe('return', () => {
  const paid = () => {
    const workspace = held();
    workspace.pay({ kind: 'pay', order_id: 'o1', payment_id: 'p' });
    return workspace;
  };

  it('restocks (sold -> available) and writes off (sold down, the units leave the stock)', () => {
    const workspace = paid();
    const restocked = workspace.returnUnits({
      kind: 'return',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 1 }],
      restock: true,
      reason: 'size',
    });
    expect(restocked.ok).toBe(true);
    expect(buckets(workspace, 'a')).toEqual({ available: 6, on_hold: 0, sold: 1 });
    const written_off = workspace.returnUnits({
      kind: 'return',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 1 }],
      restock: false,
      reason: null,
    });
    expect(written_off).toMatchObject({
      ok: true,
      value: { returns: [{ restock: true }, { restock: false }] },
    });
    expect(buckets(workspace, 'a')).toEqual({ available: 6, on_hold: 0, sold: 0 });
    const effects = workspace.effects();
    expect(effects.ledger.slice(-2).map((entry) => [entry.kind, entry.reason])).toEqual([
      ['return_restock', 'size'],
      ['return_writeoff', null],
    ]);
    expect(effects.returns_recorded.map((recorded) => recorded.return_no)).toEqual([0, 1]);
  });

  it('refuses more than sold and not yet returned with the numbers, and an order not paid', () => {
    const workspace = paid();
    workspace.returnUnits({
      kind: 'return',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 1 }],
      restock: true,
      reason: null,
    });
    const over = workspace.returnUnits({
      kind: 'return',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 2 }],
      restock: true,
      reason: null,
    });
    expect(over).toMatchObject({
      ok: false,
      error: {
        code: 'return_exceeds_sold',
        details: { lines: [{ sku: 'a', requested: 2, sold: 2, returned: 1 }] },
      },
    });
    const pending = held().returnUnits({
      kind: 'return',
      order_id: 'o1',
      lines: [{ sku: 'a', quantity: 1 }],
      restock: true,
      reason: null,
    });
    expect(pending).toMatchObject({ ok: false, error: { code: 'order_not_paid' } });
  });
});
