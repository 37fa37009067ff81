// Group commit changes nothing but speed: the same requests, in the same order, give the same
// answers and the same final state (SKUs, orders, ledger, events) whether they are decided together
// (coalesced) or one transaction each (naive), on SQLite and on PostgreSQL. Also: a full queue is
// answered over HTTP with 503 overloaded and Retry-After, and the request changes nothing.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { StockholdError } from '../../src/core/errors.ts';
import type { Command } from '../../src/core/types.ts';
import { CommandQueue } from '../../src/store/command-queue.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { CommandEnvelope, CommandResult } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer } from '../support/server.ts';

const HOLD_SECONDS = 60;

const create = (sku: string, available: number, max_per_customer: number | null = null): Command => ({
  kind: 'create_sku',
  sku,
  name: sku,
  available,
  max_per_customer,
});
const checkout = (order_id: string, customer_id: string, lines: [string, number][]): Command => ({
  kind: 'checkout',
  order_id,
  customer_id,
  lines: lines.map(([sku, quantity]) => ({ sku, quantity })),
  hold_seconds: HOLD_SECONDS,
});
const pay = (order_id: string, payment_id: string): Command => ({ kind: 'pay', order_id, payment_id });
const cancel = (order_id: string): Command => ({ kind: 'cancel', order_id });
const keyed = (command: Command, key: string, fingerprint: string): CommandEnvelope => ({
  command,
  idempotency: { key, fingerprint },
});

/**
 * A flash sale in segments. Within a segment the requests are concurrent (coalesced: one or more
 * batches); between segments the clock may move. Every kind of answer appears at least once.
 */
const SEGMENTS: { advance_ms: number; envelopes: CommandEnvelope[] }[] = [
  {
    advance_ms: 0,
    envelopes: [
      { command: create('hot', 5) },
      { command: create('limited', 100, 2) },
      { command: create('cold', 50) },
      { command: create('hot', 7) }, // sku_exists
      { command: { kind: 'adjust', sku: 'cold', delta: 10, reason: 'restock', expected_available: null } },
      { command: { kind: 'adjust', sku: 'cold', delta: -1000, reason: 'oops', expected_available: null } },
      { command: { kind: 'adjust', sku: 'cold', delta: 1, reason: 'cas', expected_available: 3 } }, // version_conflict
    ],
  },
  {
    advance_ms: 10,
    envelopes: [
      ...Array.from({ length: 8 }, (_, i) => ({ command: checkout(`o${i + 1}`, `c${i + 1}`, [['hot', 1]]) })),
      {
        command: checkout('o9', 'c9', [
          ['limited', 1],
          ['cold', 2],
        ]),
      },
      { command: checkout('o10', 'c9', [['limited', 2]]) }, // limit_exceeded
      {
        command: checkout('o11', 'c11', [
          ['cold', 30],
          ['cold', 30],
        ]),
      }, // insufficient (sum of lines)
      { command: checkout('o12', 'c12', [['nowhere', 1]]) }, // sku_not_found
      { command: checkout('o13', 'c13', [['cold', 0]]) }, // invalid_request
      keyed(checkout('o14', 'c14', [['cold', 1]]), 'k1', 'f1'),
      { command: pay('o1', 'p1') }, // paid in the same batch as its checkout
      { command: cancel('o2') },
    ],
  },
  {
    advance_ms: 1000,
    envelopes: [
      keyed(checkout('o15', 'c14', [['cold', 1]]), 'k1', 'f1'), // replayed
      { command: pay('o3', 'p3') },
      { command: pay('o3', 'p3') }, // the same payment again: 200, same order
      { command: pay('o3', 'p-other') }, // already_paid
      { command: cancel('o1') }, // order_paid
      { command: pay('o2', 'p2') }, // order_cancelled
      { command: pay('missing', 'p') }, // order_not_found
      { command: cancel('o9') },
    ],
  },
  {
    // Past every deadline: checkouts reclaim expired holds lazily; late payments re-acquire or refuse.
    advance_ms: HOLD_SECONDS * 1000 + 1,
    envelopes: [
      { command: checkout('o20', 'c20', [['hot', 1]]) },
      { command: checkout('o21', 'c21', [['hot', 2]]) },
      { command: checkout('o22', 'c22', [['hot', 1]]) },
      { command: pay('o4', 'p4') }, // late: expired, the stock is gone
      { command: cancel('o5') }, // order_expired
      { command: pay('o14', 'p14') }, // late, and cold still has stock: paid with late: true
      { command: checkout('o23', 'c23', [['hot', 5]]) }, // insufficient_stock
      // Not beside the replay of k1: two requests with one key at once are told to retry (409 in use).
      keyed(checkout('o16', 'c14', [['cold', 1]]), 'k1', 'other'), // idempotency_key_reused
    ],
  },
];

type Answer = { outcome: unknown; replayed: boolean } | { thrown: string };

async function runSequence(store: KyselyStore, coalesce: boolean) {
  const clock = new ManualClock(1_700_000_000_000);
  // A small batch bound, so a segment is decided in several batches when coalesced.
  const batches: number[] = [];
  const queue = new CommandQueue(store, clock, { coalesce, batch_size_max: 5, queue_length_max: 100 }, (n) =>
    batches.push(n),
  );
  const answers: Answer[] = [];
  const answer = (promise: Promise<CommandResult>): Promise<Answer> =>
    promise.then(
      (result) => ({ outcome: result.outcome, replayed: result.replayed }),
      (error: unknown) => ({ thrown: error instanceof StockholdError ? error.code : String(error) }),
    );
  for (const segment of SEGMENTS) {
    clock.advance(segment.advance_ms);
    if (coalesce) {
      answers.push(
        ...(await Promise.all(segment.envelopes.map((envelope) => answer(queue.submit(envelope))))),
      );
    } else {
      for (const envelope of segment.envelopes) answers.push(await answer(queue.submit(envelope)));
    }
  }
  const swept = await store.sweepExpired(clock.now(), 100);
  return { answers, batches, swept };
}

async function finalState(store: KyselyStore) {
  const skus = await store.listSkus(100);
  const ledger = await Promise.all(skus.map((sku) => store.ledger(sku.sku, 500)));
  const events = (await store.eventsAfter(0, 1000)).map(({ type, subject_id, at_ms, data }) => ({
    type,
    subject_id,
    at_ms,
    data,
  }));
  return { skus, orders: await store.listOrders({ limit: 500 }), ledger, events };
}

const STORES = [
  {
    name: 'SQLite',
    async open() {
      const directory = mkdtempSync(join(tmpdir(), 'stockhold-coalescing-'));
      const store = await openSqliteStore(join(directory, 'store.db'));
      return { store, dispose: async () => rmSync(directory, { recursive: true, force: true }) };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const database = await createTestDatabase();
      const store = await openPostgresStore({
        url: database.url,
        pool_size: 4,
        statement_timeout_ms: 10_000,
      });
      return { store, dispose: () => database.drop() };
    },
  },
];

describe.each(STORES)('group commit on $name', ({ open }) => {
  it('gives the same answers and the same final state as one transaction per request', async () => {
    const opened = [await open(), await open()];
    try {
      const [coalesced_store, naive_store] = opened.map((o) => o.store) as [KyselyStore, KyselyStore];
      await coalesced_store.migrate();
      await naive_store.migrate();
      const coalesced = await runSequence(coalesced_store, true);
      const naive = await runSequence(naive_store, false);

      // The coalesced run really did decide several requests per transaction.
      expect(Math.max(...coalesced.batches)).toBe(5);
      expect(naive.batches.every((size) => size === 1)).toBe(true);

      expect(coalesced.answers).toEqual(naive.answers);
      const codes = coalesced.answers.map((a) =>
        'thrown' in a
          ? a.thrown
          : (a.outcome as { ok: boolean; error?: { code: string } }).ok
            ? 'ok'
            : (a.outcome as { error: { code: string } }).error.code,
      );
      // Every kind of answer the sequence is meant to provoke did happen.
      for (const code of [
        'ok',
        'sku_exists',
        'insufficient_stock',
        'version_conflict',
        'limit_exceeded',
        'sku_not_found',
        'invalid_request',
        'idempotency_key_reused',
        'already_paid',
        'order_paid',
        'order_cancelled',
        'order_not_found',
        'order_expired',
      ]) {
        expect(codes).toContain(code);
      }
      expect(coalesced.answers.some((a) => 'replayed' in a && a.replayed)).toBe(true);
      expect(coalesced.swept).toBe(naive.swept);

      expect(await finalState(coalesced_store)).toEqual(await finalState(naive_store));
      await expectConservation(coalesced_store);
      await expectConservation(naive_store);
    } finally {
      for (const { store, dispose } of opened) {
        await store.close();
        await dispose();
      }
    }
  });
});

describe('a full write queue over HTTP', () => {
  it('answers 503 overloaded with Retry-After at once, and the refused checkout changes nothing', async () => {
    const server = await startTestServer({ env: { QUEUE_LENGTH_MAX: '1', BATCH_SIZE_MAX: '1' } });
    try {
      const api = apiClient(server.url);
      await api.post('/v1/skus', { sku: 'hot', available: 10 });
      // Hold the first batch inside the store until the test lets it go.
      let entered!: () => void;
      const in_store = new Promise<void>((resolve) => {
        entered = resolve;
      });
      let release!: () => void;
      const gate = new Promise<void>((resolve) => {
        release = resolve;
      });
      const execute = server.store.execute.bind(server.store);
      server.store.execute = async (envelopes, now_ms) => {
        entered();
        await gate;
        return execute(envelopes, now_ms);
      };
      const order = (i: number) =>
        api.post('/v1/orders', { customer_id: `c${i}`, lines: [{ sku: 'hot', quantity: 1 }] });

      const first = order(1);
      await in_store;
      const second = order(2);
      // The second request is accepted once it waits in the queue; the queue is then full.
      while (server.queue.length < 1) await new Promise((resolve) => setImmediate(resolve));
      const refused = await order(3);
      expect(refused.status).toBe(503);
      expect(refused.headers.get('retry-after')).toBe('1');
      expect(refused.body.error.code).toBe('overloaded');

      release();
      expect((await first).status).toBe(201);
      expect((await second).status).toBe(201);
      expect((await api.get('/v1/skus/hot')).body).toMatchObject({ available: 8, on_hold: 2 });
      expect((await api.get('/v1/orders?customer_id=c3')).body.items).toEqual([]);
      await expectConservation(server.store);
    } finally {
      await server.dispose();
    }
  });
});
