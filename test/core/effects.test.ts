// The Workspace's effects: what the store must write, stated as row changes netted over the
// transaction, so that the store needs to know no command. Pure, without a database.
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from '../../src/core/errors.ts';
import type { OrderState, SkuState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import { pendingOrder, skuState, T0 } from '../support/states.ts';

const NOTHING = {
  skus_created: [],
  skus_changed: [],
  skus_updated: [],
  skus_deleted: [],
  orders_created: [],
  orders_changed: [],
  order_lines_replaced: [],
  holds_placed: [],
  holds_released: [],
  holds_replaced: [],
  holds_rescheduled: [],
  sold_lines_placed: [],
  returns_recorded: [],
  drops_created: [],
  tickets_used: [],
  ledger: [],
  events: [],
};

const SKU_A: SkuState = skuState('a', { available: 5, on_hold: 3, version: 2 });
const HELD: OrderState = pendingOrder(
  'o1',
  [
    { sku: 'a', quantity: 1 },
    { sku: 'a', quantity: 2 },
  ],
  { customer_id: 'c' },
);

function withHeldOrder(now_ms = T0 + 1000): Workspace {
  const workspace = new Workspace(now_ms);
  workspace.loadSku(SKU_A);
  workspace.loadOrder(HELD);
  return workspace;
}

describe('Workspace effects', () => {
  it('are empty before any decision, and for a refusal', () => {
    const workspace = withHeldOrder();
    expect(workspace.effects()).toEqual(NOTHING);
    workspace.adjust({ kind: 'adjust', sku: 'a', delta: -6, reason: null, expected_available: null });
    expect(workspace.effects()).toEqual(NOTHING);
  });

  it('of a checkout: the order with its lines, one hold per SKU summed, the SKU, ledger and event', () => {
    const workspace = new Workspace(T0);
    workspace.loadSku({ ...SKU_A, on_hold: 0 });
    workspace.checkout({ ...HELD, kind: 'checkout', order_id: 'o2', hold_seconds: 30 });
    const effects = workspace.effects();
    expect(effects.orders_created.map((order) => [order.id, order.lines])).toEqual([['o2', HELD.lines]]);
    expect(effects.holds_placed).toEqual([
      { order_id: 'o2', sku: 'a', quantity: 3, expires_at_ms: T0 + 30_000 },
    ]);
    expect(effects.skus_changed).toEqual([workspace.skus.get('a')]);
    expect(effects.ledger).toHaveLength(1);
    expect(effects.events.map((event) => event.type)).toEqual(['order.held']);
    expect(effects.orders_changed).toEqual([]);
    expect(effects.holds_released).toEqual([]);
  });

  it('of a checkout cancelled in the same transaction: the order created as cancelled, no hold at all', () => {
    const workspace = new Workspace(T0);
    workspace.loadSku({ ...SKU_A, on_hold: 0 });
    workspace.checkout({ ...HELD, kind: 'checkout', order_id: 'o2', hold_seconds: 30 });
    workspace.cancel({ kind: 'cancel', order_id: 'o2' });
    const effects = workspace.effects();
    expect(effects.orders_created.map((order) => order.status)).toEqual(['cancelled']);
    expect(effects.orders_changed).toEqual([]);
    expect(effects.holds_placed).toEqual([]);
    expect(effects.holds_released).toEqual([]);
    expect(effects.skus_changed).toHaveLength(1);
    expect(effects.ledger).toHaveLength(2);
  });

  it('of a payment, a cancel and an expiry: the order changed and its holds released', () => {
    for (const [now_ms, decide] of [
      [T0 + 1000, (w: Workspace) => w.pay({ kind: 'pay', order_id: 'o1', payment_id: 'p' })],
      [T0 + 1000, (w: Workspace) => w.cancel({ kind: 'cancel', order_id: 'o1' })],
      [T0 + 60_000, (w: Workspace) => w.expire('o1')],
    ] as const) {
      const workspace = withHeldOrder(now_ms);
      decide(workspace);
      const effects = workspace.effects();
      expect(effects.orders_changed).toEqual([workspace.orders.get('o1')]);
      expect(effects.orders_changed[0]?.status).not.toBe('pending_payment');
      expect(effects.holds_released).toEqual(['o1']);
      expect(effects.holds_rescheduled).toEqual([]);
      expect(effects.orders_created).toEqual([]);
    }
  });

  it('of a reschedule: the order changed and its holds rescheduled, never released', () => {
    const workspace = withHeldOrder();
    workspace.reschedule('o1', T0 + 120_000);
    expect(workspace.effects()).toEqual({
      ...NOTHING,
      orders_changed: [{ ...HELD, expires_at_ms: T0 + 120_000 }],
      holds_rescheduled: [{ order_id: 'o1', expires_at_ms: T0 + 120_000 }],
    });
  });

  it('of a reschedule then a payment: the holds released, the new deadline kept on the order', () => {
    const workspace = withHeldOrder();
    workspace.reschedule('o1', T0 + 120_000);
    workspace.pay({ kind: 'pay', order_id: 'o1', payment_id: 'p' });
    const effects = workspace.effects();
    expect(effects.holds_released).toEqual(['o1']);
    expect(effects.holds_rescheduled).toEqual([]);
    expect(effects.orders_changed[0]).toMatchObject({ status: 'paid', expires_at_ms: T0 + 120_000 });
  });

  it('refuses to reschedule an order that is not pending, or past its deadline', () => {
    expect(() => withHeldOrder(T0 + 60_000).reschedule('o1', T0 + 120_000)).toThrow(InvariantViolation);
    const paid = withHeldOrder();
    paid.pay({ kind: 'pay', order_id: 'o1', payment_id: 'p' });
    expect(() => paid.reschedule('o1', T0 + 120_000)).toThrow(InvariantViolation);
  });
});
