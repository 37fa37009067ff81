// The sweeper's batch against the pure core: for the same due orders, taken in deadline order, each
// store must write exactly what Workspace.expire writes: the SKUs, the ledger, the orders, the holds
// and the events. SQLite's batch is set-based SQL of its own (src/store/sqlite/sqlite-sweep.ts);
// PostgreSQL's goes through the Workspace itself.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { Command, OrderState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const SKUS = ['apple', 'banana', 'cherry', 'date'];
/** Text each JSON writer must escape as JSON.stringify does. */
const ODD_CUSTOMER = 'c-"quote" \\ back\tslash\nline\u001f\u007f é 😀 \u2028';

describe.each(DIALECTS)('the sweep on %s writes what Workspace.expire writes', (dialect) => {
  let subject: TestStore;
  let store: KyselyStore;
  const clock = new ManualClock(Date.UTC(2026, 11, 12, 0, 0, 0, 7));

  beforeAll(async () => {
    subject = await openTestStore(dialect);
    store = subject.store;
  });
  afterAll(async () => subject?.dispose());

  async function run(command: Command): Promise<void> {
    const [result] = await store.execute([{ command }], clock.now());
    if (!result!.outcome.ok) throw new Error(`${command.kind} refused: ${JSON.stringify(result!.outcome)}`);
  }

  it('for orders of one and several lines, a SKU twice in one order, deadlines that tie, across batches', async () => {
    for (const [i, sku] of SKUS.entries()) {
      await run({ kind: 'create_sku', sku, name: `${sku} name`, available: 100 + i, max_per_customer: null });
    }
    const lines = (n: number) => {
      const picked = [];
      for (let line = 0; line <= n % 3; line++) {
        picked.push({ sku: SKUS[(n + line * 3) % SKUS.length]!, quantity: 1 + ((n * 7 + line) % 4) });
      }
      // Every fifth order names its first SKU again on a line of its own.
      if (n % 5 === 0) picked.push({ sku: picked[0]!.sku, quantity: 2 });
      return picked;
    };
    // 40 orders; hold times 10, 20 or 30 s, so many deadlines tie; some paid, some cancelled.
    for (let n = 0; n < 40; n++) {
      await run({
        kind: 'checkout',
        order_id: `o-${String(n).padStart(3, '0')}`,
        customer_id: n % 6 === 5 ? ODD_CUSTOMER : `c-${n % 6}`,
        lines: lines(n),
        hold_seconds: 10 * (1 + (n % 3)),
      });
      clock.advance(n % 4 === 0 ? 0 : 3);
    }
    await run({ kind: 'pay', order_id: 'o-004', payment_id: 'p-4' });
    await run({ kind: 'cancel', order_id: 'o-007' });
    // A later checkout that stays pending: its deadline is after the sweep's time.
    clock.advance(25_000);
    await run({
      kind: 'checkout',
      order_id: 'o-late',
      customer_id: 'c-9',
      lines: lines(1),
      hold_seconds: 60,
    });

    // Before the sweep: the state the pure core starts from.
    const skus_before = await store.listSkus(100);
    const pending = (await store.listOrders({ status: 'pending_payment', limit: 1000 })) as OrderState[];
    const due = pending.filter((order) => order.expires_at_ms <= clock.now());
    expect(due.length).toBeGreaterThan(20);
    expect(pending.length).toBeGreaterThan(due.length);
    const last_event_id = await store.lastEventId();
    const seq_before = new Map(skus_before.map((sku) => [sku.sku, sku.version]));

    let swept = 0;
    for (let count = -1; count !== 0; swept += count) count = await store.sweepExpired(clock.now(), 7);
    expect(swept).toBe(due.length);

    // The order the sweep took the orders in, from its events; ties between deadlines may go either way.
    const events = await store.eventsAfter(last_event_id, 1000);
    const taken = events.map((event) => event.subject_id);
    expect([...taken].sort()).toEqual(due.map((order) => order.id).sort());
    const deadline = new Map(due.map((order) => [order.id, order.expires_at_ms]));
    for (let i = 1; i < taken.length; i++) {
      expect(deadline.get(taken[i]!)!).toBeGreaterThanOrEqual(deadline.get(taken[i - 1]!)!);
    }

    const workspace = new Workspace(clock.now());
    for (const sku of skus_before) workspace.loadSku(sku);
    const by_id = new Map(due.map((order) => [order.id, order]));
    for (const id of taken) workspace.loadOrder(by_id.get(id)!);
    for (const id of taken) workspace.expire(id);

    // Events: type, subject, time, and the payload with its keys in the same order. (The stored text
    // may differ in white space: PostgreSQL writes `"id" : "o-1"`; every reader parses it.)
    const rows = await rawDatabase(store)
      .selectFrom('outbox')
      .select(['type', 'subject_id', 'payload', 'created_at_ms'])
      .where('id', '>', last_event_id)
      .orderBy('id')
      .execute();
    expect(
      rows.map((row) => ({
        ...row,
        payload: JSON.stringify(JSON.parse(row.payload)),
        created_at_ms: Number(row.created_at_ms),
      })),
    ).toEqual(
      workspace.events.map((event) => ({
        type: event.type,
        subject_id: event.subject_id,
        payload: JSON.stringify(event.data),
        created_at_ms: event.at_ms,
      })),
    );

    // The ledger, per SKU after its version before the sweep.
    for (const sku of SKUS) {
      const written = await store.ledger(sku, 1000, seq_before.get(sku));
      expect(written).toEqual(workspace.ledger.filter((entry) => entry.sku === sku));
    }
    // The SKUs, the orders and the holds.
    expect(await store.listSkus(100)).toEqual(SKUS.map((sku) => workspace.skus.get(sku)));
    for (const order of due) expect(await store.getOrder(order.id)).toEqual(workspace.orders.get(order.id));
    const holds = await rawDatabase(store).selectFrom('holds').select('order_id').distinct().execute();
    expect(holds.map((row) => row.order_id).sort()).toEqual(
      pending
        .filter((order) => !deadline.has(order.id))
        .map((order) => order.id)
        .sort(),
    );
    expect((await store.audit()).problems).toEqual([]);
  });

  it('with sku.back_in_stock for the sold-out SKUs a batch returns units to, payload and order included', async () => {
    await run({ kind: 'create_sku', sku: 'fig', name: 'fig', available: 3, max_per_customer: 2 });
    await run({ kind: 'create_sku', sku: 'grape', name: 'grape', available: 1, max_per_customer: null });
    await run({
      kind: 'update_sku',
      sku: 'fig',
      archived: true,
      low_stock_threshold: 1,
      expected_version: null,
    });
    await run({ kind: 'update_sku', sku: 'fig', archived: false, expected_version: null });
    const hold = (order_id: string, lines: { sku: string; quantity: number }[]) =>
      run({ kind: 'checkout', order_id, customer_id: `c-${order_id}`, lines, hold_seconds: 5 });
    await hold('s-1', [
      { sku: 'grape', quantity: 1 },
      { sku: 'fig', quantity: 1 },
    ]);
    await hold('s-2', [{ sku: 'fig', quantity: 2 }]);
    await hold('s-3', [{ sku: 'apple', quantity: 1 }]);
    clock.advance(5_000);
    const skus_before = await store.listSkus(100);
    const due = (await store.listOrders({ status: 'pending_payment', limit: 1000 })).filter(
      (order) => order.expires_at_ms <= clock.now(),
    );
    const last_event_id = await store.lastEventId();
    expect(await store.sweepExpired(clock.now(), 1000)).toBe(due.length);

    const events = await store.eventsAfter(last_event_id, 1000);
    const workspace = new Workspace(clock.now());
    for (const sku of skus_before) workspace.loadSku(sku);
    for (const order of due) workspace.loadOrder(order);
    const taken = events.filter((event) => event.type === 'order.expired').map((event) => event.subject_id);
    for (const id of taken) workspace.expire(id);
    const stock = (list: readonly { type: string; subject_id: string; data: unknown }[]) =>
      list
        .filter((event) => event.type.startsWith('sku.'))
        .map((event) => ({
          type: event.type,
          subject_id: event.subject_id,
          payload: JSON.stringify(event.data),
        }));
    expect(stock(events).map((event) => event.subject_id)).toEqual(['grape', 'fig']);
    expect(stock(events)).toEqual(stock(workspace.events));
    expect(await store.listSkus(100, undefined, true)).toEqual(
      skus_before.map((sku) => workspace.skus.get(sku.sku)),
    );
  });
});
