// The pure engine, without a database: exhaustive-ish random sequences keep every bucket invariant,
// and the decisions the design names are taken exactly.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { InvariantViolation } from '../../src/core/errors.ts';
import type { Command, SkuState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import { skuState, T0 } from '../support/states.ts';

const sku = (id: string, available: number, extra: Partial<SkuState> = {}): SkuState =>
  skuState(id, { available, ...extra });

describe('Workspace decisions', () => {
  it('refuses a checkout that would make available negative, and moves nothing', () => {
    const workspace = new Workspace(T0);
    workspace.loadSku(sku('a', 1));
    const decision = workspace.checkout({
      kind: 'checkout',
      order_id: 'o1',
      customer_id: 'c',
      lines: [{ sku: 'a', quantity: 2 }],
      hold_seconds: 60,
    });
    expect(decision.ok).toBe(false);
    expect(workspace.skus.get('a')).toMatchObject({ available: 1, on_hold: 0 });
    expect(workspace.ledger).toEqual([]);
    expect(workspace.events).toEqual([]);
  });

  it('records one ledger entry per SKU per movement, with the buckets after it', () => {
    const workspace = new Workspace(T0);
    workspace.loadSku(sku('a', 5));
    workspace.checkout({
      kind: 'checkout',
      order_id: 'o1',
      customer_id: 'c',
      lines: [
        { sku: 'a', quantity: 1 },
        { sku: 'a', quantity: 2 },
      ],
      hold_seconds: 60,
    });
    expect(workspace.ledger).toEqual([
      expect.objectContaining({
        sku: 'a',
        seq: 2,
        kind: 'hold',
        delta_available: -3,
        delta_on_hold: 3,
        available_after: 2,
      }),
    ]);
    expect(workspace.events.map((event) => event.type)).toEqual(['order.held']);
  });

  it('refuses to load a SKU whose buckets are already broken', () => {
    expect(() => new Workspace(T0).loadSku(sku('a', -1))).toThrow(InvariantViolation);
  });

  it('expires only pending orders past their deadline', () => {
    const workspace = new Workspace(T0);
    workspace.loadSku(sku('a', 5));
    workspace.checkout({
      kind: 'checkout',
      order_id: 'o1',
      customer_id: 'c',
      lines: [{ sku: 'a', quantity: 1 }],
      hold_seconds: 60,
    });
    expect(() => workspace.expire('o1')).toThrow(InvariantViolation);
    const later = new Workspace(T0 + 60_000);
    later.loadSku(workspace.skus.get('a')!);
    later.loadOrder(workspace.orders.get('o1')!);
    later.expire('o1');
    expect(later.skus.get('a')).toMatchObject({ available: 5, on_hold: 0 });
  });
});

const SKUS = ['a', 'b', 'c'];
const commandArbitrary = (order_ids: string[]) =>
  fc.oneof(
    fc.record({
      kind: fc.constant('adjust' as const),
      sku: fc.constantFrom(...SKUS),
      delta: fc.integer({ min: -20, max: 20 }).filter((delta) => delta !== 0),
      reason: fc.constant(null),
      expected_available: fc.constant(null),
    }),
    fc.record({
      kind: fc.constant('checkout' as const),
      order_id: fc.uuid(),
      customer_id: fc.constantFrom('x', 'y'),
      lines: fc.array(
        fc.record({ sku: fc.constantFrom(...SKUS), quantity: fc.integer({ min: 1, max: 6 }) }),
        {
          minLength: 1,
          maxLength: 4,
        },
      ),
      hold_seconds: fc.integer({ min: 1, max: 120 }),
    }),
    fc.record({
      kind: fc.constant('pay' as const),
      order_id: fc.constantFrom(...order_ids),
      payment_id: fc.constantFrom('p1', 'p2'),
    }),
    fc.record({ kind: fc.constant('cancel' as const), order_id: fc.constantFrom(...order_ids) }),
  );

describe('Workspace invariants under random sequences', () => {
  it('keeps every bucket >= 0, conserves stock and matches on_hold/sold to the orders', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(commandArbitrary(['missing']), fc.integer({ min: 0, max: 90_000 })), {
          maxLength: 60,
        }),
        fc.integer({ min: 0, max: 30 }),
        (steps, initial) => {
          let now = T0;
          let workspace = new Workspace(now);
          for (const id of SKUS) workspace.loadSku(sku(id, initial));
          const stock_total = new Map(SKUS.map((id) => [id, initial]));
          const order_ids: string[] = [];
          for (const [generated, advance_ms] of steps) {
            // Pay and cancel aim at orders this run created, when there are some.
            let command: Command = generated;
            if ((command.kind === 'pay' || command.kind === 'cancel') && order_ids.length > 0) {
              command = { ...command, order_id: order_ids[advance_ms % order_ids.length]! };
            }
            // A new workspace per step, as each transaction has, carrying the rows over.
            now += advance_ms;
            const next = new Workspace(now);
            for (const row of workspace.skus.values()) next.loadSku(row);
            for (const order of workspace.orders.values()) next.loadOrder(order);
            for (const id of SKUS) for (const customer of ['x', 'y']) next.loadUsage(customer, id, 0);
            workspace = next;
            const decision =
              command.kind === 'adjust'
                ? workspace.adjust(command)
                : command.kind === 'checkout'
                  ? workspace.checkout(command)
                  : command.kind === 'pay'
                    ? workspace.pay(command)
                    : workspace.cancel(command as Extract<Command, { kind: 'cancel' }>);
            if (command.kind === 'checkout' && decision.ok) order_ids.push(command.order_id);
            if (command.kind === 'adjust' && decision.ok) {
              stock_total.set(command.sku, stock_total.get(command.sku)! + command.delta);
            }
            for (const id of SKUS) {
              const row = workspace.skus.get(id)!;
              expect(row.available).toBeGreaterThanOrEqual(0);
              expect(row.on_hold).toBeGreaterThanOrEqual(0);
              expect(row.sold).toBeGreaterThanOrEqual(0);
              expect(row.available + row.on_hold + row.sold).toBe(stock_total.get(id));
              let pending = 0;
              let paid = 0;
              for (const order of workspace.orders.values()) {
                for (const line of order.lines) {
                  if (line.sku !== id) continue;
                  if (order.status === 'pending_payment') pending += line.quantity;
                  if (order.status === 'paid') paid += line.quantity;
                }
              }
              expect(row.on_hold).toBe(pending);
              expect(row.sold).toBe(paid);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
