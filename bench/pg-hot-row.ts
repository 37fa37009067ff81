// How many checkouts of ONE hot SKU a single PostgreSQL commits per second: one transaction per
// checkout (COALESCE=off) against coalesced batches (COALESCE=on), straight on the store, no HTTP;
// and, for contrast, one transaction per checkout spread over as many SKUs as there are connections.
// Usage: npx tsx bench/pg-hot-row.ts [admin_url] [checkouts] — the figures quoted in docs/scaling.md.
import pg from 'pg';
import { openPostgresStore } from '../src/store/postgres/postgres-store.ts';
import type { CommandEnvelope } from '../src/store/store.ts';

const admin_url = process.argv[2] ?? 'postgres://postgres@127.0.0.1:5432/test';
const checkouts = Number(process.argv[3] ?? 2000);
const CONCURRENCY = 32;
const BATCH_SIZE = 128;

async function withDatabase(work: (url: string) => Promise<void>): Promise<void> {
  const name = `stockhold_bench_${process.pid}_${Date.now().toString(36)}`;
  const admin = new pg.Client({ connectionString: admin_url });
  await admin.connect();
  await admin.query(`CREATE DATABASE "${name}"`);
  const url = new URL(admin_url);
  url.pathname = `/${name}`;
  try {
    await work(url.toString());
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.end();
  }
}

const checkout = (i: number, sku: string, skus: number): CommandEnvelope => ({
  command: {
    kind: 'checkout',
    order_id: `${sku}-${i.toString().padStart(8, '0')}`,
    customer_id: `c${i}`,
    lines: [{ sku: `${sku}-${i % skus}`, quantity: 1 }],
    hold_seconds: 900,
  },
});

async function run(url: string, sku: string, batch_size: number, skus = 1): Promise<number> {
  const store = await openPostgresStore({ url, pool_size: CONCURRENCY, statement_timeout_ms: 60_000 });
  await store.migrate();
  const now_ms = Date.now();
  await store.execute(
    Array.from({ length: skus }, (_, k) => ({
      command: {
        kind: 'create_sku',
        sku: `${sku}-${k}`,
        name: sku,
        available: 10_000_000,
        max_per_customer: null,
      },
    })) as CommandEnvelope[],
    now_ms,
  );
  const batches: CommandEnvelope[][] = [];
  for (let start = 0; start < checkouts; start += batch_size) {
    batches.push(
      Array.from({ length: Math.min(batch_size, checkouts - start) }, (_, k) =>
        checkout(start + k, sku, skus),
      ),
    );
  }
  let next = 0;
  const started_ms = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < batches.length) {
        const batch = batches[next++]!;
        const results = await store.execute(batch, now_ms);
        if (!results.every((result) => result.outcome.ok)) throw new Error('a checkout was refused');
      }
    }),
  );
  const elapsed_s = (performance.now() - started_ms) / 1000;
  await store.close();
  return checkouts / elapsed_s;
}

await withDatabase(async (url) => {
  const single = await run(url, 'single', 1);
  const coalesced = await run(url, 'coalesced', BATCH_SIZE);
  const spread = await run(url, 'spread', 1, CONCURRENCY);
  process.stdout.write(
    `${checkouts} checkouts of one SKU, ${CONCURRENCY} concurrent transactions:\n` +
      `  one transaction per checkout: ${single.toFixed(0)} checkouts/s (= commits/s on the hot row)\n` +
      `  coalesced, ${BATCH_SIZE} per transaction: ${coalesced.toFixed(0)} checkouts/s\n` +
      `  one transaction per checkout over ${CONCURRENCY} SKUs (no hot row): ${spread.toFixed(0)} checkouts/s\n`,
  );
});
