// PostgreSQL: outbox readers never skip an event whose transaction committed after a later id's,
// and two delivery workers (two store instances, as two processes would have) send each event once.
import { sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type KyselyStore, OUTBOX_LOCK_KEY } from '../../src/store/kysely-store.ts';
import type { StoredEvent } from '../../src/store/store.ts';
import { WebhookWorker } from '../../src/webhooks/worker.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { eventually, startReceiver } from './receiver.ts';

let database: TestDatabase;
let store_a: KyselyStore;
let store_b: KyselyStore;
let gate: pg.Client;

const GATE_LOCK = 4242;

beforeAll(async () => {
  database = await createTestDatabase('stockhold_webhooks');
  const config = loadConfig({ DATABASE_URL: database.url, LOG_LEVEL: 'silent' }, undefined);
  store_a = await openMigratedStore(config);
  store_b = await openMigratedStore(config);
  gate = new pg.Client({ connectionString: database.url });
  await gate.connect();
});
afterAll(async () => {
  await gate?.end();
  await store_a?.close();
  await store_b?.close();
  await database?.drop();
});

const createSku = (sku: string) => ({
  command: { kind: 'create_sku' as const, sku, name: sku, available: 10, max_per_customer: null },
});

/** Sessions of this database waiting for the advisory lock `key` (a bigint key: high and low halves). */
async function advisoryLockWaiters(key: number): Promise<number> {
  const { rows } = await gate.query(
    `select count(*)::int as n from pg_locks l join pg_database d on d.oid = l.database
      where d.datname = current_database() and l.locktype = 'advisory' and not l.granted
        and l.classid::bigint * 4294967296 + l.objid::bigint = $1`,
    [key],
  );
  return rows[0].n as number;
}

describe('outbox order on PostgreSQL', () => {
  it('a reader of "events after id N" never skips an event whose transaction commits later with a smaller id', async () => {
    // A trigger parks the first transaction right after its outbox row got its id, before COMMIT,
    // until the test releases the gate: the "slow writer" of the race.
    await sql
      .raw(`create function park_slow_outbox() returns trigger language plpgsql as $$
        begin
          if new.subject_id = 'slow-sku' then perform pg_advisory_xact_lock(${GATE_LOCK}); end if;
          return new;
        end $$;
        create trigger park_slow_outbox after insert on outbox
          for each row execute function park_slow_outbox();`)
      .execute(rawDatabase(store_a));
    await gate.query('select pg_advisory_lock($1)', [GATE_LOCK]);

    const slow = store_a.execute([createSku('slow-sku')], Date.now());
    await eventually(async () => (await advisoryLockWaiters(GATE_LOCK)) === 1, 'the slow writer is parked');
    // The fast writer starts after the slow one took its id and tries to commit first.
    let fast_done = false;
    const fast = store_b.execute([createSku('fast-sku')], Date.now()).then((results) => {
      fast_done = true;
      return results;
    });
    // Without ordering, the fast writer commits now with the larger id; with it, it waits its turn.
    await eventually(
      async () => fast_done || (await advisoryLockWaiters(OUTBOX_LOCK_KEY)) === 1,
      'the fast writer committed or waits for the outbox lock',
    );

    const seen: StoredEvent[] = [];
    let cursor = 0;
    const readMore = async () => {
      const page = await store_a.eventsAfter(cursor, 100);
      seen.push(...page);
      cursor = page.at(-1)?.id ?? cursor;
    };
    await readMore();
    expect(fast_done).toBe(false);

    await gate.query('select pg_advisory_unlock($1)', [GATE_LOCK]);
    await Promise.all([slow, fast]);
    await readMore();
    const all = await store_a.eventsAfter(0, 100);
    expect(seen.map((event) => event.subject_id)).toEqual(['slow-sku', 'fast-sku']);
    expect(seen).toEqual(all);
    await sql.raw('drop trigger park_slow_outbox on outbox').execute(rawDatabase(store_a));
  });
});

describe('two delivery workers on PostgreSQL', () => {
  it('deliver each event exactly once, in order per order', async () => {
    const target = await startReceiver();
    const webhooks_a = store_a.webhooks;
    const webhooks_b = store_b.webhooks;
    await webhooks_a.createEndpoint({
      url: target.url,
      secret: 'x'.repeat(32),
      event_types: null,
      now_ms: 0,
    });
    const options = {
      poll_interval_ms: 5,
      batch_size: 5,
      fan_out_batch_size: 7,
      timeout_ms: 5000,
      attempts_max: 3,
      backoff_base_ms: 5,
      backoff_max_ms: 20,
    };
    const silent = createLogger('silent');
    const clock = { now: () => Date.now() };
    const workers = [
      new WebhookWorker(webhooks_a, clock, options, silent),
      new WebhookWorker(webhooks_b, clock, options, silent),
    ];
    for (const worker of workers) worker.start();

    // 20 orders (one SKU each: this test is about delivery, not row contention), each held then
    // cancelled, written from both stores while the workers run.
    await store_a.execute(
      Array.from({ length: 20 }, (_, index) => createSku(`pg-${index}`)),
      Date.now(),
    );
    const order_ids = Array.from({ length: 20 }, (_, index) => `order-${String(index).padStart(2, '0')}`);
    await Promise.all(
      order_ids.map(async (order_id, index) => {
        const store = index % 2 === 0 ? store_a : store_b;
        const checkout = {
          kind: 'checkout' as const,
          order_id,
          customer_id: `c-${index}`,
          lines: [{ sku: `pg-${index}`, quantity: 1 }],
          hold_seconds: 900,
        };
        expect((await store.execute([{ command: checkout }], Date.now()))[0]!.outcome.ok).toBe(true);
        expect(
          (await store.execute([{ command: { kind: 'cancel', order_id } }], Date.now()))[0]!.outcome.ok,
        ).toBe(true);
      }),
    );
    const events = await store_a.eventsAfter(0, 1000);
    const expected = events.filter(
      (event) => event.subject_id !== 'slow-sku' && event.subject_id !== 'fast-sku',
    );
    expect(expected).toHaveLength(60);

    await eventually(() => target.received.length >= expected.length, 'every event delivered');
    await Promise.all(workers.map((worker) => worker.stop()));
    const received_ids = target.received.map((request) => request.event.id).sort((a, b) => a - b);
    expect(received_ids).toEqual(expected.map((event) => event.id));
    for (const order_id of order_ids) {
      expect(target.received.filter((r) => r.event.subject_id === order_id).map((r) => r.event.type)).toEqual(
        ['order.held', 'order.cancelled'],
      );
    }
    expect((await webhooks_a.backlog()).deliveries_open).toBe(0);
    await target.close();
  });
});
