// The request path's reads (issue 21): getSku, getOrder and the idempotency replay check through
// each database's prepared statements, and on SQLite SKU states kept in memory. Each test here fails
// if a read could answer a state older than a write that finished before it: a write then a read, a
// sweep then a read, another writer then a read.
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { decide } from '../../src/core/commands.ts';
import type { Command, SkuState } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { SqliteSkuCache } from '../../src/store/sqlite/sku-cache.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const T0 = Date.UTC(2026, 11, 3, 9, 0, 0);

async function run(store: KyselyStore, command: Command, now_ms = T0, key?: string) {
  const idempotency = key === undefined ? undefined : { key, fingerprint: `fp-${key}` };
  const [result] = await store.execute([{ command, ...(idempotency && { idempotency }) }], now_ms);
  expect(result?.outcome.ok, JSON.stringify(result?.outcome)).toBe(true);
}

/** The SKU's row as the database has it, read without the store's read path. */
async function storedSku(store: KyselyStore, sku: string) {
  const row = await rawDatabase(store)
    .selectFrom('skus')
    .selectAll()
    .where('sku', '=', sku)
    .executeTakeFirstOrThrow();
  // Booleans are stored as 0/1 on both databases; the state has them as booleans.
  return { ...row, archived: Number(row.archived) === 1 };
}

function checkout(order_id: string, sku: string, quantity: number, hold_seconds = 60): Command {
  return {
    kind: 'checkout',
    order_id,
    customer_id: `c-${order_id}`,
    lines: [{ sku, quantity }],
    hold_seconds,
  };
}

describe.each(DIALECTS)('the read path on %s', (dialect) => {
  let subject: TestStore;
  let store: KyselyStore;

  beforeAll(async () => {
    subject = await openTestStore(dialect);
    store = subject.store;
  });
  afterAll(async () => subject?.dispose());
  beforeEach(async () => subject.reset());

  it('answers what the tables hold: a SKU, an order with its lines in order, a stored key; null for none', async () => {
    await run(store, { kind: 'create_sku', sku: 'a', name: 'A', available: 10, max_per_customer: 3 });
    await run(store, { kind: 'create_sku', sku: 'b', name: 'B', available: 10, max_per_customer: null });
    await run(
      store,
      {
        kind: 'checkout',
        order_id: 'o-1',
        customer_id: 'c-1',
        lines: [
          { sku: 'b', quantity: 2 },
          { sku: 'a', quantity: 1 },
        ],
        hold_seconds: 60,
      },
      T0,
      'key-1',
    );
    const row = await storedSku(store, 'a');
    expect(await store.getSku('a')).toEqual({ ...row, available: 9, on_hold: 1 });
    expect(await store.getSku('missing')).toBeNull();
    const order = await store.getOrder('o-1');
    expect(order).toMatchObject({
      id: 'o-1',
      customer_id: 'c-1',
      status: 'pending_payment',
      lines: [
        { sku: 'b', quantity: 2 },
        { sku: 'a', quantity: 1 },
      ],
      expires_at_ms: T0 + 60_000,
      paid_at_ms: null,
      late: false,
    });
    expect(order).toEqual((await store.listOrders({ limit: 10 }))[0]);
    expect(await store.getOrder('missing')).toBeNull();
    expect(await store.isStoredReplay({ key: 'key-1', fingerprint: 'fp-key-1' })).toBe(true);
    expect(await store.isStoredReplay({ key: 'key-1', fingerprint: 'another' })).toBe(false);
    expect(await store.isStoredReplay({ key: 'key-2', fingerprint: 'fp-key-1' })).toBe(false);
  });

  it('reads what each write left, right after it: a SKU read before the write is not answered again', async () => {
    await run(store, { kind: 'create_sku', sku: 'hot', name: 'Hot', available: 100, max_per_customer: null });
    expect((await store.getSku('hot'))?.available).toBe(100);
    await run(store, checkout('o-1', 'hot', 3));
    expect(await store.getSku('hot')).toMatchObject({ available: 97, on_hold: 3, sold: 0 });
    await run(store, { kind: 'pay', order_id: 'o-1', payment_id: 'p-1' });
    expect(await store.getSku('hot')).toMatchObject({ available: 97, on_hold: 0, sold: 3 });
    await run(store, { kind: 'adjust', sku: 'hot', delta: -7, reason: 'damaged', expected_available: null });
    await run(store, checkout('o-2', 'hot', 5));
    await run(store, { kind: 'cancel', order_id: 'o-2' });
    expect(await store.getSku('hot')).toEqual(await storedSku(store, 'hot'));
    expect(await store.getOrder('o-2')).toMatchObject({ status: 'cancelled' });
  });

  it('reads what a PATCH, a count and a delete left: fields, buckets, and no SKU after its delete', async () => {
    await run(store, { kind: 'create_sku', sku: 'mug', name: 'Mug', available: 5, max_per_customer: null });
    await run(store, { kind: 'create_sku', sku: 'cup', name: 'Cup', available: 5, max_per_customer: null });
    expect(await store.getSku('mug')).toMatchObject({ name: 'Mug', archived: false });
    expect(await store.getSku('cup')).toMatchObject({ name: 'Cup' });
    await run(store, {
      kind: 'update_sku',
      sku: 'mug',
      name: 'Big mug',
      archived: true,
      low_stock_threshold: 2,
      expected_version: null,
    });
    expect(await store.getSku('mug')).toEqual(await storedSku(store, 'mug'));
    expect(await store.getSku('mug')).toMatchObject({
      name: 'Big mug',
      archived: true,
      low_stock_threshold: 2,
    });
    await run(store, { kind: 'count', sku: 'mug', unsold: 9, reason: null, expected_version: null });
    expect(await store.getSku('mug')).toMatchObject({ available: 9 });
    await run(store, { kind: 'delete_sku', sku: 'cup' });
    expect(await store.getSku('cup')).toBeNull();
  });

  it("reads a paid order's sold lines and returns, as the order view shows them", async () => {
    await run(store, { kind: 'create_sku', sku: 'tv', name: 'TV', available: 10, max_per_customer: null });
    await run(store, checkout('o-1', 'tv', 3));
    await run(store, {
      kind: 'pay',
      order_id: 'o-1',
      payment_id: 'p-1',
      lines: [{ sku: 'tv', quantity: 2 }],
    });
    await run(store, {
      kind: 'return',
      order_id: 'o-1',
      lines: [{ sku: 'tv', quantity: 1 }],
      restock: true,
      reason: 'broken',
    });
    expect(await store.getOrder('o-1')).toMatchObject({
      status: 'paid',
      sold_lines: [{ sku: 'tv', quantity: 2 }],
      returns: [{ lines: [{ sku: 'tv', quantity: 1 }], restock: true, reason: 'broken' }],
    });
    const [listed] = await store.listOrders({ limit: 1 });
    expect(await store.getOrder('o-1')).toEqual(listed);
  });

  it('reads what the sweeper released, right after its batch (SQLite sweeps in SQL, outside the Workspace)', async () => {
    await run(store, { kind: 'create_sku', sku: 'hot', name: 'Hot', available: 10, max_per_customer: null });
    await run(store, {
      kind: 'create_sku',
      sku: 'cold',
      name: 'Cold',
      available: 10,
      max_per_customer: null,
    });
    await run(store, checkout('o-1', 'hot', 4, 10));
    await run(store, checkout('o-2', 'cold', 1, 10));
    expect(await store.getSku('hot')).toMatchObject({ available: 6, on_hold: 4 });
    expect(await store.getSku('cold')).toMatchObject({ available: 9, on_hold: 1 });
    expect(await store.sweepExpired(T0 + 10_000, 100)).toBe(2);
    expect(await store.getSku('hot')).toEqual({
      ...(await storedSku(store, 'hot')),
      available: 10,
      on_hold: 0,
    });
    expect(await store.getSku('cold')).toMatchObject({ available: 10, on_hold: 0 });
    expect(await store.getOrder('o-1')).toMatchObject({ status: 'expired', closed_at_ms: T0 + 10_000 });
  });

  it('reads what a lazy reclaim released inside a checkout of another SKU of the same order', async () => {
    await run(store, { kind: 'create_sku', sku: 'a', name: 'A', available: 1, max_per_customer: null });
    await run(store, { kind: 'create_sku', sku: 'b', name: 'B', available: 5, max_per_customer: null });
    await run(store, {
      kind: 'checkout',
      order_id: 'o-1',
      customer_id: 'c-1',
      lines: [
        { sku: 'a', quantity: 1 },
        { sku: 'b', quantity: 2 },
      ],
      hold_seconds: 10,
    });
    expect(await store.getSku('b')).toMatchObject({ available: 3, on_hold: 2 });
    // A is short: the checkout reclaims o-1's expired hold, which gives B's units back too.
    await run(store, checkout('o-2', 'a', 1), T0 + 20_000);
    expect(await store.getSku('b')).toEqual({ ...(await storedSku(store, 'b')), available: 5, on_hold: 0 });
  });
});

describe.runIf(DIALECTS.includes('postgres'))('reads on PostgreSQL, with other processes', () => {
  let subject: TestStore;
  beforeAll(async () => {
    subject = await openTestStore('postgres');
  });
  afterAll(async () => subject?.dispose());

  it('answers a write another store instance (another process) committed, never a state kept in memory', async () => {
    const first = subject.store;
    const other = await subject.another();
    await run(first, { kind: 'create_sku', sku: 'hot', name: 'Hot', available: 50, max_per_customer: null });
    expect((await first.getSku('hot'))?.available).toBe(50);
    await run(other, checkout('o-1', 'hot', 8));
    expect(await first.getSku('hot')).toMatchObject({ available: 42, on_hold: 8 });
    expect(await first.getOrder('o-1')).toMatchObject({ status: 'pending_payment' });
    await run(other, { kind: 'pay', order_id: 'o-1', payment_id: 'p' });
    expect(await first.getOrder('o-1')).toMatchObject({ status: 'paid', payment_id: 'p' });
    expect(await first.getSku('hot')).toMatchObject({ available: 42, on_hold: 0, sold: 8 });
  });

  it('goes on reading whole rows after another process adds a column to the tables (a rolling upgrade)', async () => {
    const store = subject.store;
    await run(store, { kind: 'create_sku', sku: 'wide', name: 'Wide', available: 5, max_per_customer: null });
    await run(store, checkout('o-wide', 'wide', 1));
    // Prepared on every pooled connection this test may use.
    for (let i = 0; i < 12; i++) {
      expect(await store.getSku('wide')).toMatchObject({ available: 4 });
      expect(await store.getOrder('o-wide')).toMatchObject({ lines: [{ sku: 'wide', quantity: 1 }] });
    }
    const db = rawDatabase(await subject.another());
    await sql`alter table skus add column read_path_probe integer not null default 0`.execute(db);
    await sql`alter table orders add column read_path_probe integer not null default 0`.execute(db);
    try {
      for (let i = 0; i < 12; i++) {
        expect(await store.getSku('wide')).toMatchObject({ sku: 'wide', available: 4 });
        expect(await store.getOrder('o-wide')).toMatchObject({ id: 'o-wide', status: 'pending_payment' });
      }
    } finally {
      await sql`alter table skus drop column read_path_probe`.execute(db);
      await sql`alter table orders drop column read_path_probe`.execute(db);
    }
  });
});

describe.runIf(DIALECTS.includes('sqlite'))('SKU states kept in memory on SQLite', () => {
  let subject: TestStore;
  beforeAll(async () => {
    subject = await openTestStore('sqlite');
  });
  afterAll(async () => subject?.dispose());

  it('answers a kept SKU without reading the table, and a write through another connection (a tool, a second process) all the same', async () => {
    const store = subject.store;
    await run(store, { kind: 'create_sku', sku: 'kept', name: 'Kept', available: 5, max_per_customer: null });
    const kept = await store.getSku('kept');
    // The same object twice: kept in memory, frozen so no caller can change it there.
    expect(await store.getSku('kept')).toBe(kept);
    expect(Object.isFrozen(kept)).toBe(true);
    const path = subject.url.slice('sqlite:'.length);
    const outside = new BetterSqlite3(path);
    try {
      outside.prepare("update skus set available = 99, version = version + 1 where sku = 'kept'").run();
    } finally {
      outside.close();
    }
    expect(await store.getSku('kept')).toMatchObject({ available: 99 });
  });

  it('forgets every kept SKU after a write that failed (one whose COMMIT failed may have committed)', async () => {
    const store = subject.store;
    await run(store, { kind: 'create_sku', sku: 'failed', name: 'F', available: 5, max_per_customer: null });
    const kept = await store.getSku('failed');
    expect(await store.getSku('failed')).toBe(kept);
    // The same SKU created again: the insert breaks its primary key and nothing commits.
    const workspace = new Workspace(T0);
    decide(workspace, { kind: 'create_sku', sku: 'failed', name: 'F', available: 5, max_per_customer: null });
    await expect(store.writeEffects(workspace.effects())).rejects.toThrow();
    const after = await store.getSku('failed');
    expect(after).not.toBe(kept);
    expect(after).toEqual(kept);
  });

  it('forgets every kept SKU when the migrations run', async () => {
    const store = subject.store;
    await run(store, {
      kind: 'create_sku',
      sku: 'migrated',
      name: 'M',
      available: 5,
      max_per_customer: null,
    });
    const before = await store.getSku('migrated');
    await store.migrate();
    const after = await store.getSku('migrated');
    expect(after).toEqual(before);
    expect(after).not.toBe(before);
  });
});

describe('the SQLite SKU cache', () => {
  /** A SKU as the core creates it (every field it has, whatever they are). */
  function sku(id: string, available: number): SkuState {
    const workspace = new Workspace(T0);
    const created = decide(workspace, {
      kind: 'create_sku',
      sku: id,
      name: id,
      available,
      max_per_customer: null,
    });
    expect(created.ok).toBe(true);
    const [state] = workspace.effects().skus_created;
    if (state === undefined) throw new Error(`${id} was not created`);
    return state;
  }

  it('keeps at most its bound, the least recently read going first', () => {
    const cache = new SqliteSkuCache(() => 1, 2);
    cache.fill(sku('a', 1), cache.generation());
    cache.fill(sku('b', 1), cache.generation());
    expect(cache.get('a')?.available).toBe(1);
    cache.fill(sku('c', 1), cache.generation());
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')?.available).toBe(1);
    expect(cache.get('c')?.available).toBe(1);
  });

  it('drops a read that a write overtook, and follows commits of the SKUs it keeps only', () => {
    const cache = new SqliteSkuCache(() => 1);
    const generation = cache.generation();
    cache.committed([sku('a', 2)]);
    cache.fill(sku('a', 1), generation);
    expect(cache.get('a')).toBeUndefined();
    cache.fill(sku('a', 2), cache.generation());
    cache.committed([sku('a', 3), sku('b', 3)]);
    expect(cache.get('a')?.available).toBe(3);
    expect(cache.get('b')).toBeUndefined();
    const before_sweep = cache.generation();
    cache.forget(['a']);
    expect(cache.get('a')).toBeUndefined();
    cache.fill(sku('a', 3), before_sweep);
    expect(cache.get('a')).toBeUndefined();
  });

  it('empties itself when another connection committed, and drops a read that straddled it', () => {
    let others = 1;
    const cache = new SqliteSkuCache(() => others);
    cache.fill(sku('a', 1), cache.generation());
    const generation = cache.generation();
    others = 2;
    cache.fill(sku('b', 1), generation);
    expect(cache.get('b')).toBeUndefined();
    expect(cache.get('a')).toBeUndefined();
  });
});
