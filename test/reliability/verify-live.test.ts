// `stockhold verify` on a live server gives the verdict it gives on a quiet one: it reads one
// snapshot, so checkouts, payments and cancels committing while it runs are never half-seen as
// problems; and a bucket changed by SQL under the same load is still found and named.
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, temporarySqliteUrl } from '../support/server.ts';
import { verifyCli } from './support.ts';

const SKUS = 12;
const WORKERS = 6;
/** A safety bound: the load stops when the verifies are done, long before this. */
const ROUNDS_PER_WORKER_MAX = 100_000;
const VERIFIES_UNDER_LOAD = 3;

interface Store {
  name: string;
  setUp(): Promise<{ url: string; tamper(sql: string): Promise<void>; tearDown(): Promise<void> }>;
}

const STORES: Store[] = [
  {
    name: 'SQLite',
    async setUp() {
      const { url, directory } = temporarySqliteUrl();
      return {
        url,
        async tamper(statement) {
          const db = new Database(url.slice('sqlite:'.length));
          db.pragma('busy_timeout = 10000');
          db.prepare(statement).run();
          db.close();
        },
        async tearDown() {
          rmSync(directory, { recursive: true, force: true });
        },
      };
    },
  },
  {
    name: 'PostgreSQL',
    async setUp() {
      const database: TestDatabase = await createTestDatabase('stockhold_verify_live');
      return {
        url: database.url,
        async tamper(statement) {
          const client = new pg.Client({ connectionString: database.url });
          await client.connect();
          try {
            await client.query(statement);
          } finally {
            await client.end();
          }
        },
        tearDown: () => database.drop(),
      };
    },
  },
];

async function stopServe(server: ServeProcess): Promise<void> {
  if (server.child.exitCode !== null) return;
  const exited = new Promise((resolve) => server.child.once('exit', resolve));
  server.child.kill('SIGTERM');
  await exited;
}

/** Storefront traffic until `stopped()`: checkouts of two SKUs, then a payment or a cancel. */
function startLoad(base_url: string) {
  const api = apiClient(base_url);
  let stop = false;
  let committed = 0;
  const unexpected: string[] = [];
  const worker = async (worker_no: number) => {
    for (let round = 0; round < ROUNDS_PER_WORKER_MAX && !stop; round++) {
      const first = (worker_no + round) % SKUS;
      const second = (first + 1 + (round % (SKUS - 1))) % SKUS;
      const order = await api.post('/v1/orders', {
        customer_id: `shopper-${worker_no}-${round}`,
        lines: [
          { sku: `s-${first}`, quantity: 1 + (round % 3) },
          { sku: `s-${second}`, quantity: 1 },
        ],
      });
      if (order.status !== 201) {
        unexpected.push(`checkout ${order.status}`);
        continue;
      }
      committed += 1;
      const close =
        round % 3 === 0
          ? await api.post(`/v1/orders/${order.body.id}/cancel`)
          : round % 3 === 1
            ? await api.post(`/v1/orders/${order.body.id}/payment`, { payment_id: `p-${worker_no}-${round}` })
            : null; // left pending: holds stay in the buckets
      if (close !== null && close.status !== 200) unexpected.push(`close ${close.status}`);
      if (close !== null) committed += 1;
    }
  };
  const running = Promise.all(Array.from({ length: WORKERS }, (_, i) => worker(i)));
  return {
    committed: () => committed,
    unexpected,
    async stop() {
      stop = true;
      await running;
    },
  };
}

for (const store of STORES) {
  describe(`stockhold verify on a live ${store.name} server`, { timeout: 300_000 }, () => {
    let setup: Awaited<ReturnType<Store['setUp']>>;
    let server: ServeProcess;
    beforeAll(async () => {
      setup = await store.setUp();
      server = await startServe({ DATABASE_URL: setup.url, SWEEP_INTERVAL_MS: '50' });
      const api = apiClient(server.url);
      for (let i = 0; i < SKUS; i++) {
        expect((await api.post('/v1/skus', { sku: `s-${i}`, available: 1_000_000 })).status).toBe(201);
      }
    });
    afterAll(async () => {
      if (server) await stopServe(server);
      await setup?.tearDown();
    });

    it('reports no problem and exits 0, each time, while checkouts, payments and cancels commit', async () => {
      const load = startLoad(server.url);
      try {
        for (let run = 0; run < VERIFIES_UNDER_LOAD; run++) {
          const before = load.committed();
          const { code, report } = await verifyCli(setup.url);
          // The load really ran while verify read: writes committed between its start and its end.
          expect(load.committed(), `run ${run}`).toBeGreaterThan(before);
          expect(report.problems, `run ${run}`).toEqual([]);
          expect(code, `run ${run}`).toBe(0);
          expect(report.skus_checked).toBe(SKUS);
        }
      } finally {
        await load.stop();
      }
      expect(load.unexpected).toEqual([]);
    });

    it('still names a bucket changed by SQL while the load runs, and exits 1', async () => {
      const load = startLoad(server.url);
      try {
        await setup.tamper("update skus set available = available + 5 where sku = 's-7'");
        const { code, report } = await verifyCli(setup.url);
        expect(code).toBe(1);
        expect(report.ok).toBe(false);
        expect(report.problems.join('\n')).toMatch(/s-7: .*available/);
        // Only the tampered SKU is named: the load itself is never a problem.
        for (const problem of report.problems) expect(problem).toMatch(/^s-7: /);
      } finally {
        await load.stop();
      }
    });
  });
}

describe('the audit pages through SKUs', () => {
  it('checks every SKU of several pages, and names rows of a SKU past the last one', async () => {
    const { url, directory } = temporarySqliteUrl();
    const store = await openMigratedStore(loadConfig({ DATABASE_URL: url }, undefined));
    try {
      const count = 1234;
      const now_ms = Date.now();
      for (let start = 0; start < count; start += 200) {
        const envelopes = Array.from({ length: Math.min(200, count - start) }, (_, i) => ({
          command: {
            kind: 'create_sku' as const,
            sku: `p-${String(start + i).padStart(5, '0')}`,
            name: 'paged',
            available: 3,
            max_per_customer: null,
          },
        }));
        await store.execute(envelopes, now_ms);
      }
      const clean = await store.verify();
      expect(clean.problems).toEqual([]);
      expect(clean.skus_checked).toBe(count);
      expect(clean.ledger_rows_walked).toBe(count);

      const db = new Database(url.slice('sqlite:'.length));
      // One SKU in the third page of 500, and ledger rows of a SKU that sorts after every real one.
      db.prepare("update skus set sold = sold + 1 where sku = 'p-01100'").run();
      db.prepare(
        "insert into ledger (sku, seq, at_ms, kind, order_id, delta_available, delta_on_hold, delta_sold, available_after, on_hold_after, sold_after, reason) select 'zz-ghost', seq, at_ms, kind, order_id, delta_available, delta_on_hold, delta_sold, available_after, on_hold_after, sold_after, reason from ledger where sku = 'p-00001'",
      ).run();
      db.close();
      const text = (await store.verify()).problems.join('\n');
      expect(text).toMatch(/p-01100: .*sold/);
      expect(text).toMatch(/zz-ghost: the ledger names a sku that does not exist/);
      expect((await store.audit()).problems.join('\n')).toMatch(/p-01100: .*sold/);
    } finally {
      await store.close();
      rmSync(directory, { recursive: true, force: true });
    }
  });
});
