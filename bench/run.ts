// `npm run bench`: the hot-SKU benchmark. Starts each server fresh (no-op ceiling, naive one
// transaction per checkout, stockhold with group commit; SQLite and PostgreSQL), drives it with
// autocannon, times the sweeper on a million expired holds, and writes bench/results/. The read
// and health workloads (GET /v1/skus/{sku}, GET /healthz) write nothing: they run stockhold as
// shipped once per store, under the path name `coalesced`, each after a ceiling run of their own.
//
//   npm run bench -- [--quick] [--duration 15] [--connections 256] [--stores sqlite,postgres]
//                    [--workloads hot,uniform,limited,read,health] [--paths ceiling,naive,coalesced]
//                    [--sweep-holds 1000000] [--sweep-skus 100] [--storm-holds 100000]
//                    [--rss-orders 0] [--drop-tickets 100000] [--keys on|off] [--profile]
//
// --keys on (the default): the servers require an API key and every request carries one, so access
// control and the per-key limit are measured as a storefront meets them.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, platform, release, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../src/config.ts';
import { createTestDatabase } from '../test/support/postgres.ts';
import { benchDrop } from './drops.ts';
import { drive, type Mode, READ_WORKLOADS, seedSkus, WORKLOADS, type Workload } from './load.ts';
import { type ChildServer, ROOT, START_NODE_FLAGS, spawnCeiling, spawnStockhold } from './processes.ts';
import {
  type CaseResult,
  type DropRun,
  evaluateTargets,
  type Machine,
  type Report,
  type RssResult,
  type Settings,
  type StoreName,
  type StormRun,
  toMarkdown,
} from './report.ts';
import { benchStorm } from './storm.ts';
import { benchSweeperAsServer, type SweepResult } from './sweep.ts';

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    duration: { type: 'string' },
    connections: { type: 'string', default: '256' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    workloads: { type: 'string', default: WORKLOADS.join(',') },
    paths: { type: 'string', default: 'ceiling,naive,coalesced' },
    'sweep-holds': { type: 'string' },
    'sweep-skus': { type: 'string', default: '100' },
    'storm-holds': { type: 'string' },
    'rss-orders': { type: 'string' },
    'drop-tickets': { type: 'string' },
    'results-dir': { type: 'string', default: join(ROOT, 'bench', 'results') },
    profile: { type: 'boolean', default: false },
    keys: { type: 'string', default: 'on' },
  },
});
if (args.keys !== 'on' && args.keys !== 'off') throw new Error(`--keys must be on or off, not ${args.keys}`);
const keyed = args.keys === 'on';

function integerArg(name: string, value: string | undefined, fallback: number, minimum = 0): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < minimum) {
    throw new Error(`--${name} must be an integer >= ${minimum}, not ${value}`);
  }
  return parsed;
}

const stores = args.stores.split(',').map((name) => {
  if (name !== 'sqlite' && name !== 'postgres') throw new Error(`--stores: unknown store ${name}`);
  return name as StoreName;
});
function listArg<T extends string>(name: string, value: string, allowed: readonly T[]): T[] {
  return value.split(',').map((item) => {
    if (!allowed.includes(item as T))
      throw new Error(`--${name}: unknown ${item} (one of ${allowed.join(', ')})`);
    return item as T;
  });
}
const workloads = listArg<Workload>('workloads', args.workloads, WORKLOADS);
const paths = listArg<Mode>('paths', args.paths, ['ceiling', 'naive', 'coalesced']);
const defaults = loadConfig({}, undefined);
/** Tickets of the drop case: a burst before the start, then admission at 1,000/s (issue 24). */
const drop_tickets = integerArg('drop-tickets', args['drop-tickets'], args.quick ? 5_000 : 100_000);
const settings: Settings = {
  connections: integerArg('connections', args.connections, 256, 1),
  duration_seconds: integerArg('duration', args.duration, args.quick ? 3 : 15, 1),
  stores,
  batch_size_max: defaults.BATCH_SIZE_MAX,
  sweep_holds: integerArg('sweep-holds', args['sweep-holds'], args.quick ? 20_000 : 1_000_000),
  sweep_skus: integerArg('sweep-skus', args['sweep-skus'], 100, 1),
  sweep_batch_size: defaults.SWEEP_BATCH_SIZE,
  storm_holds: integerArg('storm-holds', args['storm-holds'], args.quick ? 5_000 : 100_000),
  rss_orders: integerArg('rss-orders', args['rss-orders'], 0),
  drop_tickets,
  node_flags: START_NODE_FLAGS,
  api_keys: keyed,
};
/** Each case first runs this long unmeasured, so every server is measured warm (JIT, caches). */
const warmup_seconds = Math.max(1, Math.round(settings.duration_seconds / 5));
const profile_dir = join(args['results-dir'], 'profiles');
const node_args = args.profile ? ['--cpu-prof', '--cpu-prof-dir', profile_dir] : [];

const log = (message: string) =>
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);

/** A fresh database for one case, removed after. */
async function freshDatabase(store: StoreName): Promise<{ url: string; drop(): Promise<void> }> {
  if (store === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'stockhold-bench-'));
    return {
      url: `sqlite:${join(directory, 'bench.db')}`,
      drop: async () => rmSync(directory, { recursive: true, force: true }),
    };
  }
  // The test helper creates (and drops) a database on the local server; the bench may name another.
  if (process.env.STOCKHOLD_BENCH_PG_URL)
    process.env.STOCKHOLD_TEST_PG_URL = process.env.STOCKHOLD_BENCH_PG_URL;
  return createTestDatabase('stockhold_bench');
}

async function withServer<T>(
  start: () => Promise<ChildServer>,
  work: (server: ChildServer) => Promise<T>,
): Promise<T> {
  const server = await start();
  try {
    return await work(server);
  } finally {
    await server.stop();
  }
}

async function measure(server: ChildServer, workload: Workload): Promise<ReturnType<typeof drive>> {
  await drive(server, workload, { connections: settings.connections, duration_seconds: warmup_seconds });
  return drive(server, workload, {
    connections: settings.connections,
    duration_seconds: settings.duration_seconds,
  });
}

async function runCase(workload: Workload, mode: Mode, store: StoreName | null): Promise<CaseResult> {
  log(`${workload} / ${store ?? '-'} / ${mode}`);
  const result = await measureCase(workload, mode, store);
  log(
    `  ${Math.round(result.checkouts_per_second)} answers (2xx)/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms, ${result.errors} errors`,
  );
  return result;
}

async function measureCase(workload: Workload, mode: Mode, store: StoreName | null): Promise<CaseResult> {
  if (store === null) {
    const result = await withServer(
      () => spawnCeiling(keyed),
      (server) => measure(server, workload),
    );
    return { workload, mode, store, ...result };
  }
  const database = await freshDatabase(store);
  try {
    const env = { COALESCE: mode === 'coalesced' ? 'on' : 'off' };
    await seedSkus(database.url, workload);
    const result = await withServer(
      () => spawnStockhold(database.url, env, { node_args, keyed }),
      (server) => measure(server, workload),
    );
    return { workload, mode, store, ...result };
  } finally {
    await database.drop();
  }
}

/** Drives `orders` checkouts of the hot SKU through one coalescing server, sampling its RSS. */
async function runRss(store: StoreName, orders: number): Promise<RssResult> {
  log(`RSS over ${orders} orders / ${store}`);
  const database = await freshDatabase(store);
  try {
    await seedSkus(database.url, 'hot');
    return await withServer(
      () => spawnStockhold(database.url, { COALESCE: 'on' }, { node_args, keyed }),
      async (server) => {
        const rss_start_bytes = server.rssBytes();
        let rss_max_bytes = rss_start_bytes;
        const sampler = setInterval(() => {
          rss_max_bytes = Math.max(rss_max_bytes, server.rssBytes());
        }, 1000);
        try {
          const warm_orders = Math.round(orders / 10);
          const connections = settings.connections;
          const warm = await drive(server, 'hot', { connections, amount: warm_orders });
          const rss_warm_bytes = server.rssBytes();
          const rest = await drive(server, 'hot', { connections, amount: orders - warm_orders });
          const rss_end_bytes = server.rssBytes();
          return {
            store,
            orders,
            successes: warm.successes + rest.successes,
            errors: warm.errors + rest.errors,
            checkouts_per_second: rest.checkouts_per_second,
            rss_start_bytes,
            rss_warm_bytes,
            rss_end_bytes,
            rss_max_bytes: Math.max(rss_max_bytes, rss_end_bytes),
            growth_bytes: rss_end_bytes - rss_warm_bytes,
          };
        } finally {
          clearInterval(sampler);
        }
      },
    );
  } finally {
    await database.drop();
  }
}

/** The expiry storm on a server of its own: hot-SKU checkouts while a backlog of holds falls due. */
async function runStorm(store: StoreName): Promise<StormRun> {
  log(`expiry storm: ${settings.storm_holds} holds falling due under hot-SKU load / ${store}`);
  const database = await freshDatabase(store);
  try {
    await seedSkus(database.url, 'hot');
    const result = await withServer(
      () => spawnStockhold(database.url, { COALESCE: 'on' }, { node_args, keyed }),
      (server) =>
        benchStorm(server, database.url, {
          holds: settings.storm_holds,
          skus: settings.sweep_skus,
          connections: settings.connections,
          duration_seconds: settings.duration_seconds,
          warmup_seconds,
        }),
    );
    log(
      `  ${Math.round(result.checkouts_per_second)} answers (2xx)/s, p50 ${result.p50_ms} ms, p99 ${result.p99_ms} ms; released ${result.released_after_seconds === null ? 'not within a minute after the run' : `${result.released_after_seconds.toFixed(1)} s after falling due${result.released_under_load ? '' : ', the last after the run'}`}`,
    );
    return { store, ...result };
  } finally {
    await database.drop();
  }
}

/** A drop at scale on a server of its own: a burst of tickets, then admission under ticket reads. */
async function runDrop(store: StoreName): Promise<DropRun> {
  log(`drop: ${drop_tickets} tickets in one burst, admission at 1,000/s / ${store}`);
  const database = await freshDatabase(store);
  try {
    const result = await withServer(
      () => spawnStockhold(database.url, { COALESCE: 'on' }, { node_args, keyed }),
      (server) =>
        benchDrop(server, {
          tickets: drop_tickets,
          admission_per_second: 1000,
          connections: settings.connections,
          duration_seconds: settings.duration_seconds,
        }),
    );
    log(
      `  ${Math.round(result.joins_per_second)} joins/s; admitted ${Math.round(result.admitted_per_second)}/s; ${Math.round(result.ticket_reads_per_second)} ticket reads/s, p99 ${result.ticket_read_p99_ms} ms`,
    );
    return { store, ...result };
  } finally {
    await database.drop();
  }
}

async function runSweeper(store: StoreName): Promise<SweepResult> {
  log(`sweeper: ${settings.sweep_holds} expired holds / ${store}`);
  const database = await freshDatabase(store);
  try {
    const result = await benchSweeperAsServer(database.url, {
      holds: settings.sweep_holds,
      skus: settings.sweep_skus,
      batch_size: settings.sweep_batch_size,
      audit: true,
    });
    log(
      `  seeded in ${result.seed_seconds.toFixed(1)} s, released in ${result.sweep_seconds.toFixed(1)} s: ${Math.round(result.releases_per_second)}/s`,
    );
    return result;
  } finally {
    await database.drop();
  }
}

function machine(): Machine {
  const cpu = cpus();
  return {
    cpu_model: cpu[0]?.model.trim() ?? 'unknown',
    cores: cpu.length,
    memory_gb: Math.round(totalmem() / 1024 ** 3),
    node: process.version,
    platform: `${platform()} ${release()}`,
    load_average_start: loadavg(),
    load_average_end: [],
  };
}

async function main(): Promise<void> {
  const started_at = new Date();
  const host = machine();
  log(
    `${host.cpu_model}, ${host.cores} cores, Node ${host.node}; ${settings.connections} connections, ${settings.duration_seconds} s per case (+${warmup_seconds} s warm-up)`,
  );
  const cases: CaseResult[] = [];
  for (const workload of workloads) {
    for (const store of stores) {
      for (const mode of ['naive', 'coalesced'] as const) {
        if (!paths.includes(mode)) continue;
        // A read does not go through the command queue: naive and coalesced are the same server.
        if (mode === 'naive' && READ_WORKLOADS.includes(workload)) continue;
        // This machine's speed drifts from minute to minute (it is shared, and so are its cores):
        // each case is measured right after a ceiling run, and its ratio is taken to that one.
        let ceiling: CaseResult | null = null;
        if (paths.includes('ceiling')) {
          ceiling = await runCase(workload, 'ceiling', null);
          cases.push(ceiling);
        }
        const measured = await runCase(workload, mode, store);
        cases.push({ ...measured, ceiling_checkouts_per_second: ceiling?.checkouts_per_second ?? null });
      }
    }
    if (paths.length === 1 && paths[0] === 'ceiling') cases.push(await runCase(workload, 'ceiling', null));
  }
  const sweeper: SweepResult[] = [];
  if (settings.sweep_holds > 0) {
    for (const store of stores) {
      // A failed sweeper run is reported, and the figures measured so far are still written.
      await runSweeper(store).then(
        (result) => sweeper.push(result),
        (error: unknown) => log(`sweeper on ${store} failed: ${(error as Error).message}`),
      );
    }
  }
  const storm: StormRun[] = [];
  if (settings.storm_holds > 0) for (const store of stores) storm.push(await runStorm(store));
  const rss: RssResult[] = [];
  if (settings.rss_orders > 0) for (const store of stores) rss.push(await runRss(store, settings.rss_orders));
  const drops: DropRun[] = [];
  if (drop_tickets > 0) for (const store of stores) drops.push(await runDrop(store));

  host.load_average_end = loadavg();
  const report: Report = {
    started_at: started_at.toISOString(),
    finished_at: new Date().toISOString(),
    machine: host,
    settings,
    cases,
    sweeper,
    storm,
    rss,
    drops,
    targets: evaluateTargets(cases, sweeper, rss, stores),
  };
  const markdown = toMarkdown(report);
  const directory = args['results-dir'];
  mkdirSync(directory, { recursive: true });
  const stamp = report.started_at.replace(/[:.]/g, '-');
  writeFileSync(join(directory, `${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(directory, `${stamp}.md`), markdown);
  writeFileSync(join(directory, 'latest.md'), markdown);
  process.stdout.write(`\n${markdown}\n`);
  log(`results written to ${join(directory, `${stamp}.{json,md}`)} and latest.md`);
}

await main();
