// Races on one order: payment, cancel and expiry (several sweepers) fired at once from several
// connections; an extension racing the sweepers at the deadline; two returns of one paid order at once;
// a checkout with a drop's admission racing the admitters at its lapse; two checkouts with one admission;
// connections; on PostgreSQL from several store instances, each with its own pool, standing for
// several server processes. Exactly one outcome per order, its stock moved exactly once (the deep
// verify matches every order's ledger movements to its final state), and no unit sold twice.
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { CommandEnvelope, CommandResult } from '../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { temporarySqliteUrl } from '../support/server.ts';
import { envCount, expectVerified, reportFigure, seededRandom } from './support.ts';

const ORDERS = envCount('STOCKHOLD_RACE_ORDERS', 60);
const INSTANCES = 3;
const START_MS = Date.UTC(2026, 11, 12);

interface Backend {
  name: string;
  /** Several independent stores (connections / pools) on one database. */
  open(): Promise<KyselyStore[]>;
  cleanup(): Promise<void>;
}

function sqliteBackend(): Backend {
  const { url, directory } = temporarySqliteUrl();
  return {
    // SQLite has one writer process by design (DESIGN.md, Storage), and better-sqlite3 blocks its
    // thread while it waits for the file lock, so several writer connections in one process would
    // only wait on each other. The racers share the one store; its writes still interleave freely.
    name: 'SQLite (one writer, concurrent transactions)',
    async open() {
      const store = await openSqliteStore(url.slice('sqlite:'.length));
      await store.migrate();
      return [store];
    },
    async cleanup() {
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

function postgresBackend(): Backend {
  let database: TestDatabase | null = null;
  return {
    name: 'PostgreSQL (several pools standing for processes)',
    async open() {
      database = await createTestDatabase('stockhold_races');
      const stores = [];
      for (let i = 0; i < INSTANCES; i++) {
        stores.push(
          await openPostgresStore({ url: database.url, pool_size: 4, statement_timeout_ms: 10_000 }),
        );
      }
      await stores[0]!.migrate();
      return stores;
    },
    async cleanup() {
      await database?.drop();
    },
  };
}

const one = async (store: KyselyStore, envelope: CommandEnvelope, now_ms: number): Promise<CommandResult> =>
  (await store.execute([envelope], now_ms))[0]!;

const code = (result: CommandResult) => (result.outcome.ok ? 'ok' : result.outcome.error.code);

for (const makeBackend of [sqliteBackend, postgresBackend]) {
  const backend = makeBackend();
  describe(`races on ${backend.name}`, () => {
    let stores: KyselyStore[];
    beforeAll(async () => {
      stores = await backend.open();
    });
    afterAll(async () => {
      for (const store of stores ?? []) await store.close();
      await backend.cleanup();
    });

    it('gives each order exactly one outcome when payment, cancel and expiry race, and moves its stock once', async () => {
      const random = seededRandom(envCount('STOCKHOLD_RACE_SEED', 8));
      const skus = ['r1', 'r2', 'r3'];
      for (const sku of skus) {
        await one(
          stores[0]!,
          { command: { kind: 'create_sku', sku, name: sku, available: ORDERS * 2, max_per_customer: null } },
          START_MS,
        );
      }
      const orders = Array.from({ length: ORDERS }, (_, i) => `race-${String(i).padStart(4, '0')}`);
      for (const [i, order_id] of orders.entries()) {
        const lines = [{ sku: skus[i % 3]!, quantity: 1 + (i % 2) }];
        if (i % 4 === 0) lines.push({ sku: skus[(i + 1) % 3]!, quantity: 1 });
        const held = await one(
          stores[i % stores.length]!,
          // Each order its own deadline, so a sweep at one order's deadline races that order alone.
          { command: { kind: 'checkout', order_id, customer_id: `c${i}`, lines, hold_seconds: 1 + i } },
          START_MS,
        );
        expect(code(held)).toBe('ok');
      }
      // Half the races happen just before the deadline (payment may win), half at it (expiry may win).
      const deadlineOf = (i: number) => START_MS + (1 + i) * 1000;
      // In waves of ten orders (forty racing transactions): enough to race on every order, without
      // queueing hundreds of transactions on a few pooled connections of a loaded machine.
      const race = async (order_id: string, i: number) => {
        const deadline_ms = deadlineOf(i);
        const now_ms = deadline_ms - (random() < 0.5 ? 1 : 0);
        const pick = () => stores[Math.floor(random() * stores.length)]!;
        const [pay, cancel] = await Promise.all([
          one(pick(), { command: { kind: 'pay', order_id, payment_id: `pay-${i}` } }, now_ms),
          one(pick(), { command: { kind: 'cancel', order_id } }, now_ms),
          // Sweepers of other processes, whose clocks may be a millisecond apart.
          pick().sweepExpired(deadline_ms - (random() < 0.5 ? 1 : 0), 7),
          pick().sweepExpired(deadline_ms - (random() < 0.5 ? 1 : 0), 7),
        ]);
        return { order_id, pay: code(pay), cancel: code(cancel) };
      };
      const answers = [];
      for (let start = 0; start < orders.length; start += 10) {
        const wave = orders.slice(start, start + 10);
        answers.push(...(await Promise.all(wave.map((order_id, j) => race(order_id, start + j)))));
      }

      const outcomes = { paid: 0, paid_late: 0, cancelled: 0, expired: 0 };
      for (const answer of answers) {
        const order = (await stores[0]!.getOrder(answer.order_id))!;
        if (order.status === 'paid') {
          // The payment was answered ok; the cancel lost (order_paid) or saw the expiry first.
          expect(answer.pay).toBe('ok');
          expect(['order_paid', 'order_expired']).toContain(answer.cancel);
          outcomes[order.late ? 'paid_late' : 'paid'] += 1;
        } else if (order.status === 'cancelled') {
          expect(answer).toMatchObject({ cancel: 'ok', pay: 'order_cancelled' });
          outcomes.cancelled += 1;
        } else {
          expect(order.status).toBe('expired');
          expect(answer).toMatchObject({ cancel: 'order_expired', pay: 'order_expired' });
          outcomes.expired += 1;
        }
      }
      // Whatever is left pending past its deadline is swept once more; then every order is final.
      await stores[stores.length - 1]!.sweepExpired(deadlineOf(ORDERS), 10_000);
      expect(await stores[0]!.listOrders({ status: 'pending_payment', limit: 10 })).toEqual([]);
      // The ledger shows one release or one sale per line of every order (checked by the deep walk).
      const report = await expectVerified(stores[0]!);
      expect(report.orders_walked).toBe(ORDERS);
      reportFigure(`race outcomes on ${backend.name}`, JSON.stringify(outcomes));
    });

    it('sells the last units exactly once when many checkouts race from every connection', async () => {
      await one(
        stores[0]!,
        { command: { kind: 'create_sku', sku: 'last', name: 'last', available: 10, max_per_customer: null } },
        START_MS,
      );
      const attempts = await Promise.all(
        Array.from({ length: 50 }, (_, i) =>
          one(
            stores[i % stores.length]!,
            {
              command: {
                kind: 'checkout',
                order_id: `last-${i}`,
                customer_id: `c${i}`,
                lines: [{ sku: 'last', quantity: 1 }],
                hold_seconds: 600,
              },
            },
            START_MS,
          ),
        ),
      );
      expect(attempts.filter((result) => code(result) === 'ok')).toHaveLength(10);
      expect(attempts.filter((result) => code(result) === 'insufficient_stock')).toHaveLength(40);
      expect(await stores[stores.length - 1]!.getSku('last')).toMatchObject({
        available: 0,
        on_hold: 10,
        sold: 0,
      });
      await expectVerified(stores[0]!);
    });

    it('never makes available negative nor loses a hold when ERP counts race checkouts', async () => {
      await one(
        stores[0]!,
        {
          command: {
            kind: 'create_sku',
            sku: 'counted',
            name: 'counted',
            available: 40,
            max_per_customer: null,
          },
        },
        START_MS,
      );
      const random = seededRandom(envCount('STOCKHOLD_RACE_SEED', 8) + 1);
      const pick = () => stores[Math.floor(random() * stores.length)]!;
      // Counts from 0 (below any holds) to 60; each names its count in its reason, to check it after.
      const counts = Array.from({ length: 12 }, (_, i) => i * 5);
      const checkouts = Array.from({ length: 60 }, (_, i) =>
        one(
          pick(),
          {
            command: {
              kind: 'checkout',
              order_id: `counted-${i}`,
              customer_id: `c${i}`,
              lines: [{ sku: 'counted', quantity: 1 + (i % 2) }],
              hold_seconds: 600,
            },
          },
          START_MS,
        ),
      );
      const counted = counts.map((unsold) =>
        one(
          pick(),
          {
            command: {
              kind: 'count',
              sku: 'counted',
              unsold,
              reason: `count ${unsold}`,
              expected_version: null,
            },
          },
          START_MS,
        ),
      );
      const [held, answered] = await Promise.all([Promise.all(checkouts), Promise.all(counted)]);
      expect(held.map(code).every((outcome) => outcome === 'ok' || outcome === 'insufficient_stock')).toBe(
        true,
      );
      expect(answered.map(code).every((outcome) => outcome === 'ok' || outcome === 'count_below_holds')).toBe(
        true,
      );
      // Every hold taken is still whole: on_hold is exactly the units of the checkouts that succeeded.
      const held_units = held.reduce((sum, result, i) => sum + (code(result) === 'ok' ? 1 + (i % 2) : 0), 0);
      const sku = (await stores[stores.length - 1]!.getSku('counted'))!;
      expect(sku.on_hold).toBe(held_units);
      expect(sku.available).toBeGreaterThanOrEqual(0);
      // Each count that passed set available + on_hold to its count, at its moment; each refused one
      // met more units on hold than it counted.
      const ledger = await stores[0]!.ledger('counted', 1000);
      const count_entries = ledger.filter((entry) => entry.kind === 'count');
      expect(count_entries).toHaveLength(answered.filter((result) => code(result) === 'ok').length);
      for (const entry of count_entries) {
        expect(`count ${entry.available_after + entry.on_hold_after}`).toBe(entry.reason);
      }
      for (const [i, result] of answered.entries()) {
        if (code(result) === 'count_below_holds') {
          const details = (result.outcome as { error: { details: { on_hold: number } } }).error.details;
          expect(details.on_hold).toBeGreaterThan(counts[i]!);
        }
      }
      const tally = (results: CommandResult[]) => {
        const counted: Record<string, number> = {};
        for (const result of results) counted[code(result)] = (counted[code(result)] ?? 0) + 1;
        return counted;
      };
      reportFigure(
        `count race on ${backend.name}`,
        JSON.stringify({ checkouts: tally(held), counts: tally(answered) }),
      );
      await expectVerified(stores[0]!);
    });

    it('lets a checkout reclaim an expired hold whose cancel arrives in the same group commit', async () => {
      // Regression: the lazy reclaim skipped overdue orders already loaded by another command of the
      // batch, so this checkout was refused although any serial order of the two would accept it.
      const store = stores[0]!;
      await one(
        store,
        {
          command: { kind: 'create_sku', sku: 'batch', name: 'batch', available: 1, max_per_customer: null },
        },
        START_MS,
      );
      const held = await one(
        store,
        {
          command: {
            kind: 'checkout',
            order_id: 'batch-x',
            customer_id: 'x',
            lines: [{ sku: 'batch', quantity: 1 }],
            hold_seconds: 1,
          },
        },
        START_MS,
      );
      expect(code(held)).toBe('ok');
      const [checkout, cancel] = await store.execute(
        [
          {
            command: {
              kind: 'checkout',
              order_id: 'batch-y',
              customer_id: 'y',
              lines: [{ sku: 'batch', quantity: 1 }],
              hold_seconds: 60,
            },
          },
          { command: { kind: 'cancel', order_id: 'batch-x' } },
        ],
        START_MS + 1000,
      );
      expect(code(checkout!)).toBe('ok');
      expect(code(cancel!)).toBe('order_expired');
      expect(await store.getSku('batch')).toMatchObject({ available: 0, on_hold: 1, sold: 0 });
      await expectVerified(store);
    });

    it('gives an extension racing the sweepers at the deadline one outcome: extended and not swept, or expired', async () => {
      const store = stores[0]!;
      await one(
        store,
        { command: { kind: 'create_sku', sku: 'ext', name: 'ext', available: 100, max_per_customer: null } },
        START_MS,
      );
      const random = seededRandom(envCount('STOCKHOLD_RACE_SEED', 8) + 1);
      const count = 20;
      const deadlineOf = (i: number) => START_MS + (1 + i) * 1000;
      for (let i = 0; i < count; i++) {
        const held = await one(
          stores[i % stores.length]!,
          {
            command: {
              kind: 'checkout',
              order_id: `ext-${String(i).padStart(3, '0')}`,
              customer_id: `e${i}`,
              lines: [{ sku: 'ext', quantity: 1 }],
              hold_seconds: 1 + i,
            },
          },
          START_MS,
        );
        expect(code(held)).toBe('ok');
      }
      const pick = () => stores[Math.floor(random() * stores.length)]!;
      const answers = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const order_id = `ext-${String(i).padStart(3, '0')}`;
          const at_ms = () => deadlineOf(i) - (random() < 0.5 ? 1 : 0);
          const [extended] = await Promise.all([
            one(
              pick(),
              {
                command: {
                  kind: 'extend',
                  order_id,
                  seconds: 60,
                  reason: null,
                  extensions_max: 3,
                  hold_seconds_total_max: 3600,
                },
              },
              at_ms(),
            ),
            pick().sweepExpired(at_ms(), 5),
            pick().sweepExpired(at_ms(), 5),
          ]);
          return { order_id, i, answer: code(extended) };
        }),
      );
      for (const { order_id, i, answer } of answers) {
        const order = (await store.getOrder(order_id))!;
        if (answer === 'ok') {
          // Extended in time: the sweepers at the old deadline left it alone.
          expect(order).toMatchObject({ status: 'pending_payment', extensions: 1 });
          expect(order.expires_at_ms).toBe(deadlineOf(i) + 60_000);
        } else {
          expect(answer).toBe('order_expired');
          expect(order).toMatchObject({ status: 'expired', extensions: 0 });
        }
      }
      reportFigure(
        `extensions that won the race on ${backend.name}`,
        answers.filter((answer) => answer.answer === 'ok').length,
      );
      // At the new deadlines every extended order is swept too; the books stay straight.
      await stores[stores.length - 1]!.sweepExpired(deadlineOf(count) + 60_000, 10_000);
      expect(await store.getSku('ext')).toMatchObject({ available: 100, on_hold: 0, sold: 0 });
      await expectVerified(store);
    });

    /** A drop over a new SKU of plenty, its line of `count` customers all admitted at `admitted_at_ms`. */
    async function admittedLine(drop_id: string, count: number, admission_seconds: number) {
      const store = stores[0]!;
      const sku = `${drop_id}-sku`;
      const created = await one(
        store,
        { command: { kind: 'create_sku', sku, name: sku, available: 1000, max_per_customer: null } },
        START_MS,
      );
      expect(code(created)).toBe('ok');
      const starts_at_ms = START_MS + 10_000;
      const drop = await one(
        store,
        {
          command: {
            kind: 'create_drop',
            drop_id,
            skus: [sku],
            starts_at_ms,
            ends_at_ms: null,
            admission_per_second: 1000,
            admission_seconds,
            max_per_customer: null,
          },
        },
        START_MS,
      );
      expect(code(drop)).toBe('ok');
      const customers = Array.from({ length: count }, (_, i) => `${drop_id}-c${i}`);
      for (const customer of customers) await store.drops.join(drop_id, customer, START_MS);
      await store.drops.admit(starts_at_ms);
      const admitted_at_ms = starts_at_ms + 1000;
      const reports = await store.drops.admit(admitted_at_ms);
      expect(reports.find((report) => report.drop_id === drop_id)?.admitted).toBe(count);
      const tokens = new Map<string, string>();
      for (const customer of customers) {
        const { ticket } = await store.drops.join(drop_id, customer, admitted_at_ms);
        tokens.set(customer, ticket.admission_token);
      }
      return { sku, customers, tokens, admitted_at_ms };
    }
    const admissionCheckout = (sku: string, customer_id: string, token: string, order_id: string) =>
      ({
        command: {
          kind: 'checkout',
          order_id,
          customer_id,
          lines: [{ sku, quantity: 1 }],
          hold_seconds: 600,
          admission_token: token,
        },
      }) satisfies CommandEnvelope;
    async function ticketOf(drop_id: string, customer_id: string) {
      return (await stores[0]!.drops.join(drop_id, customer_id, START_MS)).ticket;
    }

    it("gives a checkout racing the admitters at its admission's lapse one outcome: used, or expired and refused", async () => {
      const random = seededRandom(envCount('STOCKHOLD_RACE_SEED', 8) + 2);
      const pick = () => stores[Math.floor(random() * stores.length)]!;
      const { sku, customers, tokens, admitted_at_ms } = await admittedLine('lapse-race', 30, 10);
      const lapse_ms = admitted_at_ms + 10_000;
      // Each checkout comes a millisecond before the lapse (it may win) or at it (it may not), while
      // the admitters of every instance expire the lapsed admissions.
      const checkout_at = new Map(
        customers.map((customer) => [customer, lapse_ms - (random() < 0.5 ? 1 : 0)]),
      );
      const [answers] = await Promise.all([
        Promise.all(
          customers.map((customer) =>
            one(
              pick(),
              admissionCheckout(sku, customer, tokens.get(customer)!, `lapse-${customer}`),
              checkout_at.get(customer)!,
            ),
          ),
        ),
        pick().drops.admit(lapse_ms),
        pick().drops.admit(lapse_ms - (random() < 0.5 ? 1 : 0)),
        pick().drops.admit(lapse_ms),
      ]);
      await stores[0]!.drops.admit(lapse_ms + 1);
      let used = 0;
      for (const [i, customer] of customers.entries()) {
        const ticket = await ticketOf('lapse-race', customer);
        const order = await stores[0]!.getOrder(`lapse-${customer}`);
        if (code(answers[i]!) === 'ok') {
          // Held in time: the admission is spent on the order, and no admitter expired it after.
          expect(checkout_at.get(customer)).toBeLessThan(lapse_ms);
          expect(ticket).toMatchObject({ status: 'used', order_id: `lapse-${customer}` });
          expect(order?.status).toBe('pending_payment');
          used += 1;
        } else {
          expect(code(answers[i]!)).toBe('admission_expired');
          expect(ticket).toMatchObject({ status: 'expired', order_id: null });
          expect(order).toBeNull();
        }
      }
      expect(await stores[0]!.getSku(sku)).toMatchObject({ on_hold: used, available: 1000 - used });
      reportFigure(`checkouts that beat the admission's lapse on ${backend.name}`, used);
      await expectVerified(stores[0]!);
    });

    it('lets one admission hold stock once when two checkouts present it at once', async () => {
      const { sku, customers, tokens, admitted_at_ms } = await admittedLine('token-race', 20, 600);
      const answers = await Promise.all(
        customers.map(async (customer, i) => {
          const token = tokens.get(customer)!;
          const results = await Promise.all([
            one(
              stores[i % stores.length]!,
              admissionCheckout(sku, customer, token, `tok-${customer}-a`),
              admitted_at_ms,
            ),
            one(
              stores[(i + 1) % stores.length]!,
              admissionCheckout(sku, customer, token, `tok-${customer}-b`),
              admitted_at_ms,
            ),
          ]);
          return results.map(code).sort();
        }),
      );
      for (const answer of answers) expect(answer).toEqual(['admission_required', 'ok']);
      for (const customer of customers) {
        const ticket = await ticketOf('token-race', customer);
        expect(ticket.status).toBe('used');
        expect(await stores[0]!.getOrder(ticket.order_id ?? 'none')).not.toBeNull();
      }
      expect(await stores[0]!.getSku(sku)).toMatchObject({ on_hold: customers.length });
      await expectVerified(stores[0]!);
    });

    it('lets only what was sold come back when two returns of one order race', async () => {
      const store = stores[0]!;
      await one(
        store,
        { command: { kind: 'create_sku', sku: 'ret', name: 'ret', available: 100, max_per_customer: null } },
        START_MS,
      );
      const count = 10;
      for (let i = 0; i < count; i++) {
        const order_id = `ret-${i}`;
        const lines = [{ sku: 'ret', quantity: 3 }];
        const held = await one(
          store,
          { command: { kind: 'checkout', order_id, customer_id: `r${i}`, lines, hold_seconds: 600 } },
          START_MS,
        );
        expect(code(held)).toBe('ok');
        const paid = await one(
          store,
          { command: { kind: 'pay', order_id, payment_id: `rp-${i}` } },
          START_MS,
        );
        expect(code(paid)).toBe('ok');
      }
      const returnOf = (order_id: string, restock: boolean) =>
        ({
          command: { kind: 'return', order_id, lines: [{ sku: 'ret', quantity: 2 }], restock, reason: null },
        }) satisfies CommandEnvelope;
      const answers = await Promise.all(
        Array.from({ length: count }, async (_, i) => {
          const order_id = `ret-${i}`;
          const results = await Promise.all([
            one(stores[i % stores.length]!, returnOf(order_id, true), START_MS + 1000),
            one(stores[(i + 1) % stores.length]!, returnOf(order_id, i % 2 === 0), START_MS + 1000),
          ]);
          return results.map(code).sort();
        }),
      );
      // 3 sold, 2 + 2 asked back: exactly one return of each pair goes through.
      for (const answer of answers) expect(answer).toEqual(['ok', 'return_exceeds_sold']);
      for (let i = 0; i < count; i++) {
        const order = (await store.getOrder(`ret-${i}`))!;
        expect(order.returns).toHaveLength(1);
      }
      const sku = (await store.getSku('ret'))!;
      expect(sku.sold).toBe(count);
      expect(sku.available + sku.on_hold + sku.sold).toBeLessThanOrEqual(100);
      await expectVerified(store);
    });
  });
}
