// The sweeper after a flash sale: N pending orders whose deadlines all passed, seeded straight into
// the store's tables in one transaction (with the ledger that explains them, so the audit holds),
// then released by `sweepExpired` loops at the configured batch size, timed. The timing runs in a
// child process with `npm start`'s node flags, as the sweeper runs inside the server.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { type Kysely, sql } from 'kysely';
import { loadConfig } from '../src/config.ts';
import { openMigratedStore } from '../src/server.ts';
import type { DialectName } from '../src/store/migrations.ts';
import type { Database } from '../src/store/schema.ts';
import { rawDatabase } from '../test/support/raw-database.ts';
import { cpuMsOf, ROOT, START_NODE_FLAGS } from './processes.ts';

export interface SweepResult {
  store: DialectName;
  holds: number;
  skus: number;
  batch_size: number;
  seed_seconds: number;
  sweep_seconds: number;
  releases_per_second: number;
  /**
   * CPU per release, in µs, while sweeping: the sweeping process (all its threads) and, on
   * PostgreSQL, the database's backends serving it (read from /proc: the same machine). Unlike the
   * rate, these hold still when other programs take the machine.
   */
  cpu_us_per_release: { process: number; database: number };
  audit_problems: number;
}

/** CPU time so far of the PostgreSQL backends connected to the store's database (0 on SQLite), in ms. */
async function databaseCpuMs(db: Kysely<Database>, dialect: DialectName): Promise<number> {
  if (dialect !== 'postgres') return 0;
  const { rows } = await sql<{ pid: number }>`
    select pid from pg_stat_activity where datname = current_database()`.execute(db);
  let total_ms = 0;
  for (const { pid } of rows) {
    try {
      total_ms += cpuMsOf(pid);
    } catch {
      // A backend that ended meanwhile.
    }
  }
  return total_ms;
}

/**
 * Seeds `holds` pending one-unit orders spread over `skus` SKUs (`sweep-0`...), each SKU fully on
 * hold, falling due from `due_at_ms` on (within a second): by default an hour ago, all expired.
 */
export async function seedExpired(
  db: Kysely<Database>,
  dialect: DialectName,
  holds: number,
  skus: number,
  due_at_ms = Date.now() - 3_600_000,
) {
  // Both dialects build the same numbers; only the row source differs.
  const numbers = (count: number) =>
    dialect === 'postgres'
      ? sql`with n(i) as (select generate_series(0, ${sql.lit(count - 1)}))`
      : sql`with recursive n(i) as (select 0 union all select i + 1 from n where i + 1 < ${sql.lit(count)})`;
  // Order ids sort by creation time and every hold has the same payment window, so holds fall due
  // in id order, as after a real sale: ids are zero-padded to sort like the numbers they carry.
  const order_id =
    dialect === 'postgres' ? sql`'exp-' || lpad(i::text, 9, '0')` : sql`'exp-' || printf('%09d', i)`;
  const deadline = sql`${sql.lit(due_at_ms)} + i / ${sql.lit(Math.max(1, Math.ceil(holds / 1000)))}`;
  await db.transaction().execute(async (trx) => {
    // Order i holds one unit of SKU i % skus; it is that SKU's (i / skus + 1)-th hold.
    await sql`${numbers(skus)}
      insert into skus (sku, name, available, on_hold, sold, max_per_customer, version, created_at_ms, updated_at_ms)
      select 'sweep-' || i, 'sweep', 0,
        (${sql.lit(holds)} - i + ${sql.lit(skus - 1)}) / ${sql.lit(skus)}, 0, null,
        1 + (${sql.lit(holds)} - i + ${sql.lit(skus - 1)}) / ${sql.lit(skus)}, ${sql.lit(due_at_ms)}, ${sql.lit(due_at_ms)}
      from n`.execute(trx);
    await sql`${numbers(skus)}
      insert into ledger (sku, seq, at_ms, kind, order_id, delta_available, delta_on_hold, delta_sold,
        available_after, on_hold_after, sold_after, reason)
      select 'sweep-' || i, 1, ${sql.lit(due_at_ms)}, 'create', null,
        (${sql.lit(holds)} - i + ${sql.lit(skus - 1)}) / ${sql.lit(skus)}, 0, 0,
        (${sql.lit(holds)} - i + ${sql.lit(skus - 1)}) / ${sql.lit(skus)}, 0, 0, 'seeded'
      from n`.execute(trx);
    await sql`${numbers(holds)}
      insert into orders (id, customer_id, status, created_at_ms, expires_at_ms, paid_at_ms, payment_id, late, closed_at_ms)
      select ${order_id}, 'c-' || i, 'pending_payment', ${sql.lit(due_at_ms)}, ${deadline},
        null, null, 0, null
      from n`.execute(trx);
    await sql`${numbers(holds)}
      insert into order_lines (order_id, line_no, sku, quantity)
      select ${order_id}, 0, 'sweep-' || (i % ${sql.lit(skus)}), 1 from n`.execute(trx);
    await sql`${numbers(holds)}
      insert into holds (order_id, sku, quantity, expires_at_ms)
      select ${order_id}, 'sweep-' || (i % ${sql.lit(skus)}), 1, ${deadline} from n`.execute(trx);
    // The k-th hold of a SKU (k = i / skus + 1) leaves per_sku - k available and k on hold.
    await sql`${numbers(holds)}
      insert into ledger (sku, seq, at_ms, kind, order_id, delta_available, delta_on_hold, delta_sold,
        available_after, on_hold_after, sold_after, reason)
      select 'sweep-' || (i % ${sql.lit(skus)}), 2 + i / ${sql.lit(skus)}, ${sql.lit(due_at_ms)}, 'hold', ${order_id},
        -1, 1, 0,
        (${sql.lit(holds)} - i % ${sql.lit(skus)} + ${sql.lit(skus - 1)}) / ${sql.lit(skus)} - 1 - i / ${sql.lit(skus)},
        1 + i / ${sql.lit(skus)}, 0, null
      from n`.execute(trx);
  });
  // A live database has statistics (autovacuum analyzes a table as it grows); one filled in a single
  // transaction a moment ago has none, and PostgreSQL's planner would then sort every pending order
  // on each batch instead of reading the deadline index in order.
  await sql`analyze`.execute(db);
}

export interface SweepOptions {
  holds: number;
  skus: number;
  batch_size: number;
  audit: boolean;
}

/** benchSweeper in a child process run as `npm start` runs the server (its node flags). */
export async function benchSweeperAsServer(
  database_url: string,
  options: SweepOptions,
): Promise<SweepResult> {
  const child = spawn(
    process.execPath,
    [
      ...START_NODE_FLAGS,
      '--import',
      'tsx',
      fileURLToPath(import.meta.url),
      JSON.stringify({ database_url, options }),
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const output: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`the sweeper bench exited with code ${code}`);
  return JSON.parse(Buffer.concat(output).toString()) as SweepResult;
}

async function benchSweeper(database_url: string, options: SweepOptions): Promise<SweepResult> {
  // The seeding statements write a million rows each: far longer than a request's statement timeout.
  const config = loadConfig({
    DATABASE_URL: database_url,
    SWEEP_BATCH_SIZE: String(options.batch_size),
    PG_STATEMENT_TIMEOUT_MS: '600000',
  });
  const store = await openMigratedStore(config);
  try {
    const seed_started_ms = performance.now();
    await seedExpired(rawDatabase(store), store.dialect, options.holds, options.skus);
    const seed_seconds = (performance.now() - seed_started_ms) / 1000;

    const db = rawDatabase(store);
    const database_cpu_start_ms = await databaseCpuMs(db, store.dialect);
    const process_cpu_start = process.cpuUsage();
    const sweep_started_ms = performance.now();
    let released = 0;
    // The sweeper's own loop (Sweeper.sweepOnce) without its per-tick pause: batch after batch.
    for (;;) {
      const count = await store.sweepExpired(Date.now(), config.SWEEP_BATCH_SIZE);
      released += count;
      if (count < config.SWEEP_BATCH_SIZE) break;
    }
    const sweep_seconds = (performance.now() - sweep_started_ms) / 1000;
    const process_cpu = process.cpuUsage(process_cpu_start);
    const database_cpu_ms = (await databaseCpuMs(db, store.dialect)) - database_cpu_start_ms;
    if (released !== options.holds) throw new Error(`released ${released} of ${options.holds} holds`);
    const audit_problems = options.audit ? (await store.audit()).problems.length : -1;
    return {
      store: store.dialect,
      holds: options.holds,
      skus: options.skus,
      batch_size: config.SWEEP_BATCH_SIZE,
      seed_seconds,
      sweep_seconds,
      releases_per_second: released / sweep_seconds,
      cpu_us_per_release: {
        process: (process_cpu.user + process_cpu.system) / released,
        database: (database_cpu_ms * 1000) / released,
      },
      audit_problems,
    };
  } finally {
    await store.close();
  }
}

// The child of benchSweeperAsServer: its one argument is the JSON of its parameters.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { database_url, options } = JSON.parse(process.argv[2]!) as {
    database_url: string;
    options: SweepOptions;
  };
  process.stdout.write(JSON.stringify(await benchSweeper(database_url, options)));
}
