// Group commit, with the real SQLite store behind a gate so the interleavings are chosen, not hoped
// for: requests that arrive during a commit share the next one, each gets its own answer, a full
// queue refuses at once, and a key already in flight is told to retry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { StockholdError } from '../../src/core/errors.ts';
import { CommandQueue } from '../../src/store/command-queue.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { CommandEnvelope, CommandResult, Store } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';

/** The real store, but each execute() waits until the test opens the gate. */
function gated(store: KyselyStore) {
  let open!: () => void;
  let gate = new Promise<void>((resolve) => {
    open = resolve;
  });
  const batches: number[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      if (property === 'execute') {
        return async (envelopes: CommandEnvelope[], now_ms: number): Promise<CommandResult[]> => {
          batches.push(envelopes.length);
          await gate;
          return target.execute(envelopes, now_ms);
        };
      }
      return Reflect.get(target, property, receiver);
    },
  }) as Store;
  return {
    store: proxy,
    batches,
    open: () => {
      open();
      gate = Promise.resolve();
    },
  };
}

/** Lets the queue start the batch it scheduled (a batch starts on the next turn of the event loop). */
const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

const checkout = (i: number, sku = 'hot', quantity = 1): CommandEnvelope => ({
  command: {
    kind: 'checkout',
    order_id: `order-${i}`,
    customer_id: `c${i}`,
    lines: [{ sku, quantity }],
    hold_seconds: 60,
  },
});

let directory: string;
let store: KyselyStore;
const clock = new ManualClock();

beforeEach(async () => {
  directory = mkdtempSync(join(tmpdir(), 'stockhold-queue-'));
  store = await openSqliteStore(join(directory, 'q.db'));
  await store.migrate();
  await store.execute(
    [{ command: { kind: 'create_sku', sku: 'hot', name: 'hot', available: 3, max_per_customer: null } }],
    clock.now(),
  );
});
afterEach(async () => {
  await store.close();
  rmSync(directory, { recursive: true, force: true });
});

describe('CommandQueue with coalescing', () => {
  it('groups the requests that arrive in the same turn of the event loop into one batch', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    const results = [0, 1, 2].map((i) => queue.submit(checkout(i)));
    gate.open();
    await Promise.all(results);
    // better-sqlite3 is synchronous: a batch started at once would have committed request 0 alone.
    expect(gate.batches).toEqual([3]);
  });

  it('waits while requests keep arriving turn after turn, but not forever', async () => {
    await store.execute(
      [{ command: { kind: 'create_sku', sku: 'big', name: 'big', available: 100, max_per_customer: null } }],
      clock.now(),
    );
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    gate.open();
    // A burst that sockets deliver over three turns of the loop: each part arrives in a turn before
    // the queue looks again (its callbacks are queued ahead of the queue's own).
    const burst: Promise<CommandResult>[] = [];
    setImmediate(() => {
      setImmediate(() => burst.push(queue.submit(checkout(2, 'big'))));
      burst.push(queue.submit(checkout(1, 'big')));
    });
    burst.push(queue.submit(checkout(0, 'big')));
    await new Promise((resolve) => setTimeout(resolve, 50));
    await Promise.all(burst);
    expect(gate.batches).toEqual([3]);

    // A request on every turn for 20 turns: a batch still starts after at most 8 turns (the first
    // request and one per turn).
    gate.batches.length = 0;
    const trickle: Promise<CommandResult>[] = [];
    let next = 10;
    await new Promise<void>((resolve) => {
      const feed = () => {
        if (next < 29) setImmediate(feed);
        else resolve();
        trickle.push(queue.submit(checkout(next++, 'big')));
      };
      feed();
    });
    await Promise.all(trickle);
    expect(gate.batches.length).toBeGreaterThan(1);
    expect(gate.batches[0]).toBeLessThanOrEqual(9);
    expect(gate.batches.reduce((sum, size) => sum + size, 0)).toBe(20);
  });

  it('decides the requests that wait during a commit together, each with its own answer', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    const first = queue.submit(checkout(0));
    await nextTurn();
    const rest = [1, 2, 3, 4].map((i) => queue.submit(i === 2 ? checkout(i, 'missing') : checkout(i)));
    gate.open();
    const results = await Promise.all([first, ...rest]);
    expect(gate.batches).toEqual([1, 4]);
    expect(results.map((result) => (result.outcome.ok ? 'held' : result.outcome.error.code))).toEqual([
      'held',
      'held',
      'sku_not_found',
      'held',
      'insufficient_stock',
    ]);
    expect(await store.getSku('hot')).toMatchObject({ available: 0, on_hold: 3 });
    await expectConservation(store);
  });

  it('answers 503 overloaded at once when the queue is full, and decides nothing for it', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 2,
    });
    const running = queue.submit(checkout(0));
    await nextTurn();
    const waiting = [queue.submit(checkout(1)), queue.submit(checkout(2))];
    await expect(queue.submit(checkout(3))).rejects.toMatchObject({ code: 'overloaded' });
    gate.open();
    await Promise.all([running, ...waiting]);
    expect(await store.getOrder('order-3')).toBeNull();
    expect(await store.getSku('hot')).toMatchObject({ available: 0, on_hold: 3 });
  });

  it('tells a second request with an Idempotency-Key still in flight to retry', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    const idempotency = { key: 'k', fingerprint: 'f' };
    const first = queue.submit({ ...checkout(0), idempotency });
    const second = queue.submit({ ...checkout(1), idempotency });
    await expect(second).rejects.toBeInstanceOf(StockholdError);
    await expect(second).rejects.toMatchObject({ code: 'idempotency_key_in_use' });
    gate.open();
    expect((await first).outcome.ok).toBe(true);
    const replay = await queue.submit({ ...checkout(1), idempotency });
    expect(replay.replayed).toBe(true);
  });

  it('waits for every accepted request on close and refuses new ones', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: true,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    const accepted = queue.submit(checkout(0));
    const closing = queue.close();
    await expect(queue.submit(checkout(1))).rejects.toMatchObject({ code: 'overloaded' });
    gate.open();
    await closing;
    expect((await accepted).outcome.ok).toBe(true);
  });
});

describe('CommandQueue without coalescing', () => {
  it('runs one transaction per request', async () => {
    const gate = gated(store);
    const queue = new CommandQueue(gate.store, clock, {
      coalesce: false,
      batch_size_max: 100,
      queue_length_max: 100,
    });
    const results = [0, 1, 2, 3].map((i) => queue.submit(checkout(i)));
    gate.open();
    await Promise.all(results);
    expect(gate.batches).toEqual([1, 1, 1, 1]);
    expect(await store.getSku('hot')).toMatchObject({ available: 0, on_hold: 3 });
  });
});
