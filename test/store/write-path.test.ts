// The write path on both stores: the store writes the effects the core returns, by kind, knowing no
// command. A rescheduled order keeps its holds (the extension of issue 23 rests on it), replaced
// lines and holds are written whole, and a group commit of checkouts sends no more statements than
// before the commands moved into the core.
import Database from 'better-sqlite3';
import { DefaultQueryExecutor, Kysely, PostgresDialect, SqliteDialect } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Effects } from '../../src/core/effects.ts';
import type { Command } from '../../src/core/types.ts';
import { Workspace } from '../../src/core/workspace.ts';
import type { Database as Tables } from '../../src/store/schema.ts';
import type { CommandEnvelope } from '../../src/store/store.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const T0 = Date.UTC(2026, 11, 12, 10);

/** A connection of the test's own to the store's database, to read its tables as they are. */
function openRaw(url: string): Kysely<Tables> {
  if (url.startsWith('sqlite:')) {
    return new Kysely({
      dialect: new SqliteDialect({ database: new Database(url.slice('sqlite:'.length)) }),
    });
  }
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  // Dropping the test database at the end ends this pool's connections from the server's side.
  pool.on('error', () => {});
  return new Kysely({ dialect: new PostgresDialect({ pool }) });
}

/** What a statement does, as `verb table`: enough to tell the statements of a write apart. */
function statementShape(text: string): string {
  const body = text.replace(/^\/\*.*?\*\/\s*/s, '').trim();
  const tables = [...body.matchAll(/\b(?:from|into|update|join)\s+"?(\w+)"?/gi)].map((match) => match[1]);
  return `${body.split(/\s/)[0]?.toLowerCase()} ${[...new Set(tables)].join(',')}`;
}

describe.each(DIALECTS)('the write path on %s', (dialect) => {
  let subject: TestStore;
  let raw: Kysely<Tables>;

  beforeAll(async () => {
    subject = await openTestStore(dialect);
    raw = openRaw(subject.url);
  });
  afterAll(async () => {
    await raw?.destroy();
    await subject?.dispose();
  });
  beforeEach(async () => subject.reset());

  async function run(command: Command, now_ms = T0): Promise<void> {
    const [result] = await subject.store.execute([{ command }], now_ms);
    expect(result?.outcome.ok, JSON.stringify(result?.outcome)).toBe(true);
  }

  async function holds(order_id: string) {
    const rows = await raw
      .selectFrom('holds')
      .select(['sku', 'quantity', 'expires_at_ms'])
      .where('order_id', '=', order_id)
      .orderBy('sku')
      .execute();
    return rows.map((row) => ({
      ...row,
      quantity: Number(row.quantity),
      expires_at_ms: Number(row.expires_at_ms),
    }));
  }

  async function heldOrder(): Promise<Workspace> {
    await run({ kind: 'create_sku', sku: 'tv', name: 'TV', available: 10, max_per_customer: null });
    await run({ kind: 'create_sku', sku: 'radio', name: 'Radio', available: 10, max_per_customer: null });
    await run({
      kind: 'checkout',
      order_id: 'o1',
      customer_id: 'c1',
      lines: [
        { sku: 'tv', quantity: 2 },
        { sku: 'radio', quantity: 1 },
        { sku: 'tv', quantity: 1 },
      ],
      hold_seconds: 60,
    });
    const workspace = new Workspace(T0 + 30_000);
    for (const id of ['tv', 'radio']) {
      const sku = await subject.store.getSku(id);
      if (sku) workspace.loadSku(sku);
    }
    const order = await subject.store.getOrder('o1');
    if (order) workspace.loadOrder(order);
    return workspace;
  }

  it('writes a reschedule as a new deadline of the order and its holds, the holds kept', async () => {
    const workspace = await heldOrder();
    expect(await holds('o1')).toEqual([
      { sku: 'radio', quantity: 1, expires_at_ms: T0 + 60_000 },
      { sku: 'tv', quantity: 3, expires_at_ms: T0 + 60_000 },
    ]);
    workspace.reschedule('o1', T0 + 180_000);
    await subject.store.writeEffects(workspace.effects());

    expect(await holds('o1')).toEqual([
      { sku: 'radio', quantity: 1, expires_at_ms: T0 + 180_000 },
      { sku: 'tv', quantity: 3, expires_at_ms: T0 + 180_000 },
    ]);
    expect(await subject.store.getOrder('o1')).toMatchObject({
      status: 'pending_payment',
      expires_at_ms: T0 + 180_000,
    });
    // The sweeper and a checkout's lazy reclaim honour the new deadline: at the old one, nothing lapses.
    expect(await subject.store.sweepExpired(T0 + 60_000, 100)).toBe(0);
    const [refused] = await subject.store.execute(
      [
        {
          command: {
            kind: 'checkout',
            order_id: 'o2',
            customer_id: 'c2',
            lines: [{ sku: 'tv', quantity: 8 }],
            hold_seconds: 60,
          },
        },
      ],
      T0 + 60_000,
    );
    expect(refused?.outcome).toMatchObject({ ok: false, error: { code: 'insufficient_stock' } });
    expect(await holds('o1')).toHaveLength(2);
    // At the new deadline it does.
    expect(await subject.store.sweepExpired(T0 + 180_000, 100)).toBe(1);
    expect(await holds('o1')).toEqual([]);
    expect((await subject.store.audit()).problems).toEqual([]);
  });

  it("writes replaced lines and holds whole: the order's old rows go, the new ones stay", async () => {
    const workspace = await heldOrder();
    const order = workspace.orders.get('o1');
    expect(order).toBeDefined();
    if (!order) return;
    // The effects a change of the held order's lines would return (issue 23): TV down from 3 to 1,
    // the radio dropped. Written by hand, since no command changes lines yet.
    const lines = [{ sku: 'tv', quantity: 1 }];
    const effects: Effects = {
      ...new Workspace(T0).effects(),
      orders_changed: [{ ...order, lines }],
      order_lines_replaced: [{ order_id: 'o1', lines }],
      holds_replaced: [
        { order_id: 'o1', holds: [{ order_id: 'o1', sku: 'tv', quantity: 1, expires_at_ms: T0 + 60_000 }] },
      ],
    };
    await subject.store.writeEffects(effects);
    expect(await holds('o1')).toEqual([{ sku: 'tv', quantity: 1, expires_at_ms: T0 + 60_000 }]);
    expect((await subject.store.getOrder('o1'))?.lines).toEqual(lines);
  });

  it('sends a group commit of 3 checkouts as before: one locking read, one usage read, one write', async () => {
    await run({ kind: 'create_sku', sku: 'tv', name: 'TV', available: 10, max_per_customer: 2 });
    await run({ kind: 'create_sku', sku: 'radio', name: 'Radio', available: 10, max_per_customer: null });
    const envelopes: CommandEnvelope[] = [1, 2, 3].map((n) => ({
      command: {
        kind: 'checkout',
        order_id: `o${n}`,
        customer_id: `c${n}`,
        lines: [
          { sku: 'tv', quantity: 1 },
          { sku: 'radio', quantity: 1 },
        ],
        hold_seconds: 60,
      },
      idempotency: { key: `k${n}`, fingerprint: `f${n}` },
    }));
    const statements: string[] = [];
    const spy = vi.spyOn(DefaultQueryExecutor.prototype, 'executeQuery').mockImplementation(async function (
      this: DefaultQueryExecutor,
      query,
      ...rest
    ) {
      statements.push(query.sql);
      return Object.getPrototypeOf(DefaultQueryExecutor.prototype).executeQuery.call(this, query, ...rest);
    });
    let results: Awaited<ReturnType<typeof subject.store.execute>>;
    try {
      results = await subject.store.execute(envelopes, T0);
    } finally {
      spy.mockRestore();
    }
    expect(results.map((result) => result.outcome.ok)).toEqual([true, true, true]);
    const shapes = statements.map(statementShape);
    console.log(`${dialect}: ${statements.length} statements\n  ${shapes.join('\n  ')}`);
    // PostgreSQL: BEGIN goes out with the locking read, COMMIT with the one write (pipelined-pool.ts).
    // SQLite: each table's rows in blocks of 256, 64, 16, 4 and 1 (bulk-writes.ts), so 3 rows are 3.
    const three = (shape: string) => [shape, shape, shape];
    const expected =
      dialect === 'postgres'
        ? [
            'select idempotency_keys',
            'select skus',
            'select unnest,lateral,orders,order_lines',
            'with skus,jsonb_array_elements,orders,order_lines,holds,ledger,idempotency_keys,outbox,w0,w1,w2,w3,w4,w5',
          ]
        : [
            'begin ',
            'select idempotency_keys',
            'select skus',
            'select order_lines,orders',
            'update skus',
            'update skus',
            ...three('insert orders'),
            ...three('insert order_lines'),
            ...three('insert holds'),
            ...three('insert ledger'),
            ...three('insert idempotency_keys'),
            ...three('insert outbox'),
            'commit ',
          ];
    expect(shapes).toEqual(expected);
  });
});
