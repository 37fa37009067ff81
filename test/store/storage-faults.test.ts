// Group commit when a batch's transaction fails, on the real SQLite store: a database that cannot
// store anything (the file may not grow: max_page_count) fails the whole batch at once with 503
// storage_unavailable, never one more transaction per request; a request whose own data fails the
// transaction (a trigger refuses it) fails alone, and its batch-mates commit together, in one.
// And which real errors of either database count as "the database is away".
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { sql } from 'kysely';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { CommandQueue } from '../../src/store/command-queue.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { isStorageUnavailable, storageFaultCause } from '../../src/store/storage-faults.ts';
import type { CommandEnvelope, Store } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { rawDatabase } from '../support/raw-database.ts';

const SKUS = Array.from({ length: 100 }, (_, i) => `sku-${i}`);

/** The real store, with the transactions the queue asks of it written down. */
function recorded(store: KyselyStore) {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'execute' || property === 'rehearse') {
        return (envelopes: CommandEnvelope[], now_ms: number) => {
          calls.push(`${property}:${envelopes.length}`);
          return target[property](envelopes, now_ms);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  }) as Store;
  return { store: proxy, calls };
}

/** A checkout of one unit of every SKU: rows enough that the file must grow to take five. */
const checkout = (i: number, customer_id = `c${i}`): CommandEnvelope => ({
  command: {
    kind: 'checkout',
    order_id: `order-${i}`,
    customer_id,
    lines: SKUS.map((sku) => ({ sku, quantity: 1 })),
    hold_seconds: 60,
  },
});

let directory: string;
let store: KyselyStore;
const clock = new ManualClock();

const queueOver = (target: Store) =>
  new CommandQueue(target, clock, { coalesce: true, batch_size_max: 100, queue_length_max: 100 });

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'stockhold-faults-'));
  store = await openSqliteStore(join(directory, 'faults.db'));
  await store.migrate();
  await store.execute(
    SKUS.map((sku) => ({
      command: { kind: 'create_sku', sku, name: sku, available: 100, max_per_customer: null },
    })),
    clock.now(),
  );
});
afterEach(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('group commit when storage is gone or one request is bad', () => {
  it('answers every request of a batch 503 storage_unavailable when the file cannot grow, in one attempt', async () => {
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(rawDatabase(store));
    await sql.raw(`pragma max_page_count = ${rows[0]!.page_count}`).execute(rawDatabase(store));
    const { store: target, calls } = recorded(store);
    const queue = queueOver(target);

    const answers = await Promise.allSettled([0, 1, 2, 3, 4].map((i) => queue.submit(checkout(i))));
    for (const answer of answers) {
      expect(answer.status).toBe('rejected');
      const error = (answer as PromiseRejectedResult).reason;
      expect(error).toMatchObject({ code: 'storage_unavailable', details: { retry_after_seconds: 2 } });
      // The database's own reason travels with it, for the log: SQLITE_FULL, not a failed ROLLBACK.
      expect(error.cause).toMatchObject({ code: 'SQLITE_FULL' });
      expect(isStorageUnavailable(error)).toBe(true);
    }
    expect(calls).toEqual(['execute:5']);
    expect(store.outages.down).toBe(true);
    // Nothing half-done; readiness says so, and says so no more once the file may grow again.
    expect(await store.getOrder('order-0')).toBeNull();
    await expectConservation(store);
    await expect(store.checkReady()).rejects.toMatchObject({ code: 'SQLITE_FULL' });

    await sql`pragma max_page_count = 1073741823`.execute(rawDatabase(store));
    await store.checkReady();
    expect(store.outages.down).toBe(false);
    const again = await Promise.all([0, 1, 2, 3, 4].map((i) => queue.submit(checkout(i))));
    for (const result of again) expect(result.outcome.ok).toBe(true);
    await expectConservation(store);
  });

  it('fails only the request whose data the database refuses; the others commit together in one transaction', async () => {
    await sql`create trigger refuse_poison before insert on orders when new.customer_id = 'poison'
      begin select raise(abort, 'poisoned order'); end`.execute(rawDatabase(store));
    const { store: target, calls } = recorded(store);
    const queue = queueOver(target);

    const answers = await Promise.allSettled(
      [0, 1, 2, 3, 4].map((i) => queue.submit(i === 2 ? checkout(i, 'poison') : checkout(i))),
    );
    expect(answers[2]).toMatchObject({ status: 'rejected', reason: { message: 'poisoned order' } });
    expect(isStorageUnavailable((answers[2] as PromiseRejectedResult).reason)).toBe(false);
    for (const i of [0, 1, 3, 4]) {
      expect(answers[i]).toMatchObject({ status: 'fulfilled', value: { outcome: { ok: true } } });
      expect(await store.getOrder(`order-${i}`)).toMatchObject({ status: 'pending_payment' });
    }
    expect(await store.getOrder('order-2')).toBeNull();
    // The batch, each request rehearsed alone (rolled back), then the four good ones in one commit.
    expect(calls).toEqual(['execute:5', ...Array(5).fill('rehearse:1'), 'execute:4']);
    expect(await store.getSku('sku-0')).toMatchObject({ available: 96, on_hold: 4 });
    await expectConservation(store);
  });
});

/** The error a promise rejects with (a test set-up error if it does not). */
async function errorOf(work: Promise<unknown>): Promise<unknown> {
  try {
    await work;
  } catch (error) {
    return error;
  }
  throw new Error('expected a failure');
}

describe('which errors mean the database is away (real errors of both databases)', () => {
  it('on PostgreSQL: a refused connection and a terminated session are; a bad statement is not', async () => {
    const database = await createTestDatabase('stockhold_faults');
    const client = new pg.Client({ connectionString: database.url });
    // The session is ended under it below: the client reports that as an 'error' event too.
    client.on('error', () => {});
    try {
      await client.connect();
      const syntax = await errorOf(client.query('selec 1'));
      const division = await errorOf(client.query('select 1 / 0'));
      expect([syntax, division].map(isStorageUnavailable)).toEqual([false, false]);
      const terminated = await errorOf(client.query('select pg_terminate_backend(pg_backend_pid())'));
      expect(isStorageUnavailable(terminated)).toBe(true);
      expect(storageFaultCause(terminated)).toMatch(/^57P01: terminating connection/);
      // The same client afterwards: pg's own message, no code.
      expect(isStorageUnavailable(await errorOf(client.query('select 1')))).toBe(true);
    } finally {
      await client.end().catch(() => {});
      await database.drop();
    }
    const refused_url = new URL(database.url);
    refused_url.port = '1';
    const refused = new pg.Client({ connectionString: refused_url.toString() });
    const error = await errorOf(refused.connect());
    expect(isStorageUnavailable(error)).toBe(true);
    expect(storageFaultCause(error)).toMatch(/^ECONNREFUSED/);
  });

  it('on SQLite: a full file is; a constraint or a missing table is not', () => {
    const connection = new BetterSqlite3(':memory:');
    const thrownBy = (statement: string): unknown => {
      try {
        connection.exec(statement);
      } catch (error) {
        return error;
      }
      throw new Error(`expected ${statement} to fail`);
    };
    try {
      connection.exec('create table t (id integer primary key, data blob)');
      connection.exec('insert into t values (1, null)');
      expect(isStorageUnavailable(thrownBy('insert into t values (1, null)'))).toBe(false);
      expect(isStorageUnavailable(thrownBy('select * from no_such_table'))).toBe(false);
      connection.pragma(`max_page_count = ${connection.pragma('page_count', { simple: true })}`);
      const full = thrownBy('insert into t values (2, zeroblob(65536))');
      expect(isStorageUnavailable(full)).toBe(true);
      expect(storageFaultCause(full)).toMatch(/^SQLITE_FULL/);
    } finally {
      connection.close();
    }
  });
});
