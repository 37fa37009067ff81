// The life of a SKU in the Workspace (issue 23): field changes and archiving, ERP counts, deletes,
// and the stock events, decided and refused without a database.
import { describe, expect, it } from 'vitest';
import type { CheckoutCommand, DomainEvent, SkuState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import { skuState, T0 } from '../support/states.ts';

const sku = (id: string, extra: Partial<SkuState> = {}): SkuState => skuState(id, extra);

function workspaceWith(...skus: SkuState[]): Workspace {
  const workspace = new Workspace(T0);
  for (const each of skus) workspace.loadSku(each);
  return workspace;
}

const checkoutOf = (order_id: string, sku_id: string, quantity: number): CheckoutCommand => ({
  kind: 'checkout',
  order_id,
  customer_id: 'c',
  lines: [{ sku: sku_id, quantity }],
  hold_seconds: 60,
});

const types = (events: readonly DomainEvent[]) => events.map((event) => `${event.type} ${event.subject_id}`);

describe('PATCH of a SKU', () => {
  it('changes the given fields, one update entry naming them, the version one higher', () => {
    const workspace = workspaceWith(sku('a', { max_per_customer: 2 }));
    const decision = workspace.updateSku({
      kind: 'update_sku',
      sku: 'a',
      name: 'Mug',
      max_per_customer: null,
      low_stock_threshold: 3,
      expected_version: 1,
    });
    expect(decision).toMatchObject({
      ok: true,
      value: { name: 'Mug', max_per_customer: null, low_stock_threshold: 3, archived: false, version: 2 },
    });
    expect(workspace.ledger).toEqual([
      expect.objectContaining({
        kind: 'update',
        seq: 2,
        delta_available: 0,
        delta_on_hold: 0,
        delta_sold: 0,
        reason: 'updated name, max_per_customer, low_stock_threshold',
      }),
    ]);
    const effects = workspace.effects();
    expect(effects.skus_updated.map((each) => each.sku)).toEqual(['a']);
    expect(effects.skus_changed).toEqual([]);
    expect(types(effects.events)).toEqual(['sku.updated a']);
  });

  it('records nothing when no field differs, and refuses a stale expected_version', () => {
    const workspace = workspaceWith(sku('a', { version: 4 }));
    expect(
      workspace.updateSku({ kind: 'update_sku', sku: 'a', name: 'a', expected_version: null }),
    ).toMatchObject({ ok: true, value: { version: 4 } });
    const stale = workspace.updateSku({ kind: 'update_sku', sku: 'a', archived: true, expected_version: 3 });
    expect(stale).toMatchObject({
      ok: false,
      error: { code: 'version_conflict', details: { sku: 'a', version: 4, expected_version: 3 } },
    });
    expect(workspace.skus.get('a')?.archived).toBe(false);
    expect(workspace.ledger).toEqual([]);
    expect(workspace.effects().skus_updated).toEqual([]);
  });
});

describe('an archived SKU', () => {
  it('refuses a new checkout, naming the SKU, and moves nothing', () => {
    const workspace = workspaceWith(sku('a', { archived: true }), sku('b'));
    const decision = workspace.checkout({
      ...checkoutOf('o1', 'a', 1),
      lines: [
        { sku: 'b', quantity: 1 },
        { sku: 'a', quantity: 1 },
      ],
    });
    expect(decision).toMatchObject({ ok: false, error: { code: 'sku_archived', details: { skus: ['a'] } } });
    expect(workspace.skus.get('b')?.available).toBe(10);
    expect(workspace.archivedRefusal(['b'])).toBeNull();
    expect(workspace.archivedRefusal(['a', 'b'])?.code).toBe('sku_archived');
  });

  it('lets an existing hold be paid, and cancelled, after archiving', () => {
    const workspace = workspaceWith(sku('a'));
    expect(workspace.checkout(checkoutOf('o1', 'a', 2)).ok).toBe(true);
    expect(workspace.checkout(checkoutOf('o2', 'a', 1)).ok).toBe(true);
    workspace.updateSku({ kind: 'update_sku', sku: 'a', archived: true, expected_version: null });
    expect(workspace.pay({ kind: 'pay', order_id: 'o1', payment_id: 'p' })).toMatchObject({
      ok: true,
      value: { status: 'paid' },
    });
    expect(workspace.cancel({ kind: 'cancel', order_id: 'o2' })).toMatchObject({
      ok: true,
      value: { status: 'cancelled' },
    });
    expect(workspace.skus.get('a')).toMatchObject({ available: 8, on_hold: 0, sold: 2, archived: true });
  });
});

describe('an ERP count', () => {
  it('sets available to unsold - on_hold in one count movement, the holds kept', () => {
    const workspace = workspaceWith(sku('a', { available: 4, on_hold: 3, sold: 5, version: 7 }));
    const decision = workspace.count({
      kind: 'count',
      sku: 'a',
      unsold: 10,
      reason: 'stocktake',
      expected_version: 7,
    });
    expect(decision).toMatchObject({ ok: true, value: { available: 7, on_hold: 3, sold: 5, version: 8 } });
    expect(workspace.ledger).toEqual([
      expect.objectContaining({ kind: 'count', delta_available: 3, available_after: 7, reason: 'stocktake' }),
    ]);
    expect(workspace.events[0]).toMatchObject({ type: 'sku.counted', data: { unsold: 10, delta: 3 } });
  });

  it('refuses a count below the holds, naming on_hold, and a stale version; nothing moves', () => {
    const workspace = workspaceWith(sku('a', { available: 4, on_hold: 3 }));
    expect(
      workspace.count({ kind: 'count', sku: 'a', unsold: 2, reason: null, expected_version: null }),
    ).toMatchObject({
      ok: false,
      error: { code: 'count_below_holds', details: { sku: 'a', unsold: 2, on_hold: 3 } },
    });
    expect(
      workspace.count({ kind: 'count', sku: 'a', unsold: 9, reason: null, expected_version: 2 }),
    ).toMatchObject({
      ok: false,
      error: { code: 'version_conflict' },
    });
    expect(
      workspace.count({ kind: 'count', sku: 'zz', unsold: 9, reason: null, expected_version: null }),
    ).toMatchObject({
      ok: false,
      error: { code: 'sku_not_found' },
    });
    expect(workspace.skus.get('a')).toMatchObject({ available: 4, on_hold: 3, version: 1 });
    expect(workspace.ledger).toEqual([]);
  });

  it('at exactly on_hold leaves nothing available', () => {
    const workspace = workspaceWith(sku('a', { available: 4, on_hold: 3 }));
    expect(
      workspace.count({ kind: 'count', sku: 'a', unsold: 3, reason: null, expected_version: null }),
    ).toMatchObject({
      ok: true,
      value: { available: 0, on_hold: 3 },
    });
  });
});

describe('a delete', () => {
  it('removes a SKU whose ledger is its creation alone, with that entry', () => {
    const workspace = workspaceWith(sku('a'));
    expect(workspace.deleteSku({ kind: 'delete_sku', sku: 'a' })).toMatchObject({ ok: true });
    const effects = workspace.effects();
    expect(effects.skus_deleted).toEqual(['a']);
    expect(types(effects.events)).toEqual(['sku.deleted a']);
    expect(workspace.checkout(checkoutOf('o1', 'a', 1))).toMatchObject({
      ok: false,
      error: { code: 'sku_not_found' },
    });
  });

  it('refuses a SKU with any later movement or change', () => {
    const workspace = workspaceWith(sku('a', { version: 2 }));
    expect(workspace.deleteSku({ kind: 'delete_sku', sku: 'a' })).toMatchObject({
      ok: false,
      error: { code: 'sku_in_use', details: { sku: 'a', version: 2 } },
    });
    expect(workspace.effects().skus_deleted).toEqual([]);
  });

  it('of a SKU created in the same transaction writes neither its row nor its ledger', () => {
    const workspace = new Workspace(T0);
    workspace.createSku({ kind: 'create_sku', sku: 'n', name: 'n', available: 3, max_per_customer: null });
    expect(workspace.deleteSku({ kind: 'delete_sku', sku: 'n' }).ok).toBe(true);
    const effects = workspace.effects();
    expect(effects.skus_created).toEqual([]);
    expect(effects.ledger).toEqual([]);
    expect(effects.skus_deleted).toEqual(['n']);
  });
});

describe('stock events', () => {
  it('emit low_stock and sold_out once per transaction, however many checkouts cross', () => {
    const workspace = workspaceWith(sku('a', { available: 300, low_stock_threshold: 50 }));
    for (let index = 0; index < 300; index++) {
      expect(workspace.checkout(checkoutOf(`o${index}`, 'a', 1)).ok).toBe(true);
    }
    const stock = workspace.effects().events.filter((event) => !event.type.startsWith('order.'));
    expect(types(stock)).toEqual(['sku.low_stock a', 'sku.sold_out a']);
    expect(stock[0]?.data).toMatchObject({ available_before: 300, sku: { available: 0 } });
  });

  it('emit back_in_stock when available rises from 0, and nothing when it does not cross', () => {
    const rising = workspaceWith(sku('a', { available: 0, low_stock_threshold: 5 }));
    rising.adjust({ kind: 'adjust', sku: 'a', delta: 2, reason: null, expected_available: null });
    expect(types(rising.events)).toEqual(['sku.adjusted a', 'sku.back_in_stock a']);

    // Already at or below the threshold: no second low_stock for the same crossing.
    const below = workspaceWith(sku('a', { available: 4, low_stock_threshold: 5 }));
    below.checkout(checkoutOf('o1', 'a', 1));
    expect(types(below.events)).toEqual(['order.held o1']);

    // Falls onto the threshold exactly: at or below counts.
    const onto = workspaceWith(sku('a', { available: 6, low_stock_threshold: 5 }));
    onto.count({ kind: 'count', sku: 'a', unsold: 5, reason: null, expected_version: null });
    expect(types(onto.events)).toEqual(['sku.counted a', 'sku.low_stock a']);
  });

  it('compare the start of the transaction with its end: sold out and restocked in one is no event', () => {
    const workspace = workspaceWith(sku('a', { available: 1 }));
    workspace.checkout(checkoutOf('o1', 'a', 1));
    workspace.adjust({ kind: 'adjust', sku: 'a', delta: 1, reason: null, expected_available: null });
    expect(types(workspace.events)).toEqual(['order.held o1', 'sku.adjusted a']);
  });
});
