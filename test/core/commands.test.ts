// Each command's definition: what it declares the store must load and lock before deciding it, and
// that the batch needs come out once each, in the lock order. Pure, without a database.
import { describe, expect, it } from 'vitest';
import type { CommandDefinition, CommandDefinitions } from '../../src/core/command-definition.ts';
import { COMMANDS, decide, ordersNeeded, skusNeeded, usageNeeded } from '../../src/core/commands.ts';
import type { Command, OrderState, SkuState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import { pendingOrder, skuState, T0 } from '../support/states.ts';

const sku = (id: string, max_per_customer: number | null = null): SkuState =>
  skuState(id, { on_hold: 5, max_per_customer });

const order = (id: string, extra: Partial<OrderState> = {}): OrderState =>
  pendingOrder(
    id,
    [
      { sku: 'plain', quantity: 1 },
      { sku: 'limited', quantity: 1 },
    ],
    extra,
  );

/** A workspace that has loaded two SKUs (one limited) and the given orders, at `now_ms`. */
function loaded(now_ms: number, ...orders: OrderState[]): Workspace {
  const workspace = new Workspace(now_ms);
  workspace.loadSku(sku('plain'));
  workspace.loadSku(sku('limited', 2));
  for (const each of orders) workspace.loadOrder(each);
  return workspace;
}

const checkout: Command = {
  kind: 'checkout',
  order_id: 'o-new',
  customer_id: 'bob',
  lines: [
    { sku: 'plain', quantity: 1 },
    { sku: 'limited', quantity: 1 },
    { sku: 'limited', quantity: 1 },
  ],
  hold_seconds: 60,
};

describe('command definitions', () => {
  it('create_sku needs its own SKU only, and is never retried after a reclaim', () => {
    const command: Command = { kind: 'create_sku', sku: 'n', name: 'n', available: 1, max_per_customer: 1 };
    const rows = loaded(T0);
    expect(COMMANDS.create_sku.orders(command)).toEqual([]);
    expect(COMMANDS.create_sku.skus(command, rows)).toEqual(['n']);
    expect(COMMANDS.create_sku.usage(command, rows)).toEqual([]);
    expect(COMMANDS.create_sku.reclaims_when_short).toBe(false);
  });

  it('adjust needs its SKU only', () => {
    const command: Command = {
      kind: 'adjust',
      sku: 'plain',
      delta: -1,
      reason: null,
      expected_available: null,
    };
    const rows = loaded(T0);
    expect(COMMANDS.adjust.orders(command)).toEqual([]);
    expect(COMMANDS.adjust.skus(command, rows)).toEqual(['plain']);
    expect(COMMANDS.adjust.usage(command, rows)).toEqual([]);
    expect(COMMANDS.adjust.reclaims_when_short).toBe(false);
  });

  it("checkout needs no order, its lines' SKUs, the customer's usage of the limited ones, and may reclaim", () => {
    const rows = loaded(T0);
    expect(COMMANDS.checkout.orders(checkout as never)).toEqual([]);
    expect(COMMANDS.checkout.skus(checkout as never, rows)).toEqual(['plain', 'limited', 'limited']);
    expect(COMMANDS.checkout.usage(checkout as never, rows)).toEqual([
      { customer_id: 'bob', sku: 'limited' },
      { customer_id: 'bob', sku: 'limited' },
    ]);
    expect(COMMANDS.checkout.reclaims_when_short).toBe(true);
  });

  it("pay needs its order, then that order's SKUs; the usage only when the payment comes late", () => {
    const pay = { kind: 'pay', order_id: 'o1', payment_id: 'p' } as const;
    expect(COMMANDS.pay.orders(pay)).toEqual(['o1']);
    expect(COMMANDS.pay.skus(pay, loaded(T0))).toEqual([]);
    const in_time = loaded(T0, order('o1'));
    expect(COMMANDS.pay.skus(pay, in_time)).toEqual(['plain', 'limited']);
    expect(COMMANDS.pay.usage(pay, in_time)).toEqual([]);
    // At the deadline the hold has lapsed (`<=`), swept or not: a late payment takes stock again.
    expect(COMMANDS.pay.usage(pay, loaded(T0 + 60_000, order('o1')))).toEqual([
      { customer_id: 'alice', sku: 'limited' },
    ]);
    expect(COMMANDS.pay.usage(pay, loaded(T0, order('o1', { status: 'expired' })))).toEqual([
      { customer_id: 'alice', sku: 'limited' },
    ]);
    expect(COMMANDS.pay.usage(pay, loaded(T0, order('o1', { status: 'paid' })))).toEqual([]);
    expect(COMMANDS.pay.reclaims_when_short).toBe(false);
  });

  it("cancel needs its order, then that order's SKUs, and no usage", () => {
    const cancel = { kind: 'cancel', order_id: 'o1' } as const;
    const rows = loaded(T0 + 60_000, order('o1'));
    expect(COMMANDS.cancel.orders(cancel)).toEqual(['o1']);
    expect(COMMANDS.cancel.skus(cancel, rows)).toEqual(['plain', 'limited']);
    expect(COMMANDS.cancel.usage(cancel, rows)).toEqual([]);
    expect(COMMANDS.cancel.reclaims_when_short).toBe(false);
  });

  it('update_sku, count and delete_sku need their SKU only; a PATCH that sets a limit makes a later checkout read usage', () => {
    const rows = loaded(T0);
    const update: Command = { kind: 'update_sku', sku: 'plain', max_per_customer: 1, expected_version: null };
    const count: Command = { kind: 'count', sku: 'plain', unsold: 3, reason: null, expected_version: null };
    const remove: Command = { kind: 'delete_sku', sku: 'plain' };
    for (const command of [update, count, remove]) {
      const definition = COMMANDS[command.kind] as CommandDefinition<Command>;
      expect(definition.orders(command)).toEqual([]);
      expect(definition.skus(command, rows)).toEqual(['plain']);
      expect(definition.usage(command, rows)).toEqual([]);
      expect(definition.reclaims_when_short).toBe(false);
    }
    // 'plain' has no limit as loaded; the PATCH before the checkout gives it one.
    expect(usageNeeded([checkout], rows)).toEqual([{ customer_id: 'bob', sku: 'limited' }]);
    expect(usageNeeded([update, checkout], rows)).toEqual([
      { customer_id: 'bob', sku: 'plain' },
      { customer_id: 'bob', sku: 'limited' },
    ]);
    // Clearing a limit needs no usage.
    expect(usageNeeded([{ ...update, max_per_customer: null }, checkout], rows)).toHaveLength(1);
    // And the batch decides: the checkout of 1 'plain' fits the new limit of 1.
    for (const pair of usageNeeded([update, checkout], rows)) rows.loadUsage(pair.customer_id, pair.sku, 0);
    expect(decide(rows, update)).toMatchObject({ ok: true, value: { max_per_customer: 1, version: 2 } });
    expect(decide(rows, checkout)).toMatchObject({ ok: true });
  });

  it('gives a batch its orders and SKUs once each in id order, and each usage pair once', () => {
    const batch: Command[] = [
      { kind: 'pay', order_id: 'o2', payment_id: 'p' },
      checkout,
      { kind: 'cancel', order_id: 'o1' },
      { kind: 'adjust', sku: 'zeta', delta: 1, reason: null, expected_available: null },
      { kind: 'pay', order_id: 'o1', payment_id: 'q' },
    ];
    expect(ordersNeeded(batch)).toEqual(['o1', 'o2']);
    const rows = loaded(
      T0 + 60_000,
      order('o1'),
      order('o2', { customer_id: 'bob', lines: [{ sku: 'b', quantity: 1 }] }),
    );
    expect(skusNeeded(batch, rows)).toEqual(['b', 'limited', 'plain', 'zeta']);
    expect(usageNeeded(batch, rows)).toEqual([
      { customer_id: 'bob', sku: 'limited' },
      { customer_id: 'alice', sku: 'limited' },
    ]);
  });

  it('decides each kind with its own definition', () => {
    const workspace = loaded(T0, order('o1'));
    // What the checkout declared it reads: without it the decision stops on an assertion.
    for (const pair of usageNeeded([checkout], workspace)) workspace.loadUsage(pair.customer_id, pair.sku, 0);
    const decision = decide(workspace, { kind: 'cancel', order_id: 'o1' });
    expect(decision).toMatchObject({ ok: true, value: { id: 'o1', status: 'cancelled' } });
    expect(decide(workspace, checkout)).toMatchObject({
      ok: true,
      value: { id: 'o-new', status: 'pending_payment' },
    });
  });

  it('has a definition for every command kind (a missing one does not compile)', () => {
    // @ts-expect-error: the registry is typed by Command['kind'], so leaving a kind out is an error.
    const incomplete: CommandDefinitions = { create_sku: COMMANDS.create_sku };
    expect(Object.keys(incomplete)).toHaveLength(1);
    expect(Object.keys(COMMANDS).sort()).toEqual([
      'adjust',
      'cancel',
      'change_order',
      'checkout',
      'count',
      'create_drop',
      'create_sku',
      'delete_sku',
      'extend',
      'pay',
      'return',
      'update_sku',
    ]);
  });
});
