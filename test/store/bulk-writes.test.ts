// The bulk statements of the write path, on both real databases: row counts that cut into several
// of SQLite's blocks, NULLs and text that needs escaping arrive intact, and several writes of one
// transaction (one statement on PostgreSQL) all happen.
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BulkWrites, blocks } from '../../src/store/bulk-writes.ts';
import { dialectNamed } from '../../src/store/dialects.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

describe('blocks', () => {
  it('cuts rows into blocks of the given sizes, in order, with nothing lost', () => {
    const rows = Array.from({ length: 300 }, (_, i) => i);
    const cut = [...blocks(rows, [256, 64, 16, 4, 1])];
    expect(cut.map((block) => block.length)).toEqual([256, 16, 16, 4, 4, 4]);
    expect(cut.flat()).toEqual(rows);
    expect([...blocks(rows, [128])].map((block) => block.length)).toEqual([128, 128, 44]);
    expect([...blocks([], [256, 1])]).toEqual([]);
  });
});

describe.each(DIALECTS)('bulk writes on %s', (dialect) => {
  let test_store: TestStore;
  beforeAll(async () => {
    test_store = await openTestStore(dialect);
  });
  afterAll(() => test_store?.dispose());

  it('inserts, updates and deletes 10,050 rows exactly', async () => {
    const db = rawDatabase(test_store.store);
    const bulk = new BulkWrites(dialectNamed(dialect).bulk_writer);
    const count = 10_050;
    const tricky = `quote " backslash \\ comma , brace { } apostrophe ' newline \n é 🛒`;
    const rows = Array.from({ length: count }, (_, i) => [
      `order-${String(i).padStart(5, '0')}`,
      i % 2 === 0 ? tricky : `customer-${i}`,
      'pending_payment',
      i,
      1_700_000_000_000 + i,
      null,
      null,
      0,
      null,
      null,
    ]);
    const columns = {
      id: 'text',
      customer_id: 'text',
      status: 'text',
      created_at_ms: 'bigint',
      expires_at_ms: 'bigint',
      paid_at_ms: 'bigint',
      payment_id: 'text',
      late: 'integer',
      closed_at_ms: 'bigint',
      api_key_id: 'text',
    } as const;
    await bulk.run(db, [{ kind: 'insert', table: 'orders', columns, rows }]);
    const inserted = await db.selectFrom('orders').selectAll().orderBy('id').execute();
    expect(inserted).toHaveLength(count);
    expect(inserted[0]).toMatchObject({ id: 'order-00000', customer_id: tricky, paid_at_ms: null });
    expect(Number(inserted[count - 1]!.expires_at_ms)).toBe(1_700_000_000_000 + count - 1);

    const paid = rows.filter((_, i) => i % 3 === 0).map((row) => [row[0], 'paid', 42, `pay-${tricky}`, 1]);
    await bulk.run(db, [
      {
        kind: 'update',
        table: 'orders',
        columns: { id: 'text', status: 'text', paid_at_ms: 'bigint', payment_id: 'text', late: 'integer' },
        rows: paid,
      },
    ]);
    const by_status = await db
      .selectFrom('orders')
      .select(['status', sql<number>`count(*)`.as('n')])
      .groupBy('status')
      .orderBy('status')
      .execute();
    expect(by_status.map((row) => [row.status, Number(row.n)])).toEqual([
      ['paid', paid.length],
      ['pending_payment', count - paid.length],
    ]);
    const one = await db
      .selectFrom('orders')
      .selectAll()
      .where('id', '=', 'order-00003')
      .executeTakeFirstOrThrow();
    expect(one).toMatchObject({ status: 'paid', payment_id: `pay-${tricky}` });
    expect(Number(one.late)).toBe(1);

    await bulk.run(db, [
      { kind: 'delete', table: 'orders', column: 'id', type: 'text', values: paid.map((row) => row[0]) },
    ]);
    const left = await db.selectFrom('orders').select('status').distinct().execute();
    expect(left).toEqual([{ status: 'pending_payment' }]);
    const remaining = await db
      .selectFrom('orders')
      .select(sql<number>`count(*)`.as('n'))
      .executeTakeFirstOrThrow();
    expect(Number(remaining.n)).toBe(count - paid.length);
  });

  it('runs several writes together, skipping the empty ones, with outbox ids in order', async () => {
    const db = rawDatabase(test_store.store);
    const bulk = new BulkWrites(dialectNamed(dialect).bulk_writer);
    // The writes of one run touch different rows: on PostgreSQL they are one statement, one snapshot.
    await db
      .insertInto('idempotency_keys')
      .values({ key: 'k0', fingerprint: 'f', outcome: '{}', created_at_ms: 0 })
      .execute();
    const outbox = { type: 'text', subject_id: 'text', payload: 'text', created_at_ms: 'bigint' } as const;
    await bulk.run(db, [
      {
        kind: 'insert',
        table: 'idempotency_keys',
        columns: { key: 'text', fingerprint: 'text', outcome: 'text', created_at_ms: 'bigint' },
        rows: [
          ['k1', 'f', '{}', 1],
          ['k2', 'f', '{}', 2],
        ],
      },
      { kind: 'update', table: 'skus', columns: { sku: 'text', available: 'bigint' }, rows: [] },
      { kind: 'delete', table: 'idempotency_keys', column: 'key', type: 'text', values: ['k0'] },
      {
        kind: 'insert',
        table: 'outbox',
        columns: outbox,
        rows: Array.from({ length: 300 }, (_, i) => ['test.event', `s${i}`, JSON.stringify({ i }), i]),
        advisory_lock: 42,
      },
    ]);
    const keys = await db.selectFrom('idempotency_keys').select('key').orderBy('key').execute();
    expect(keys.map((row) => row.key)).toEqual(['k1', 'k2']);
    const events = await db.selectFrom('outbox').select(['id', 'subject_id']).orderBy('id').execute();
    expect(events.map((row) => row.subject_id)).toEqual(Array.from({ length: 300 }, (_, i) => `s${i}`));
  });
});
