// Server CPU per request of two checkouts of the code, interleaved: what one change to the request
// path saves, measured where throughput is too noisy to say (a shared machine). Each round starts
// every server fresh on the same SQLite file, warms it, then drives a fixed number of requests and
// reads the server's CPU from /proc; the median of the rounds is printed per code and case.
//
//   npx tsx bench/compare-cpu.ts --roots /path/to/before,/path/to/after [--workloads health,read,hot]
//                                [--rounds 3] [--requests 20000] [--connections 64] [--keys on|off]
//                                [--idempotency-keys on|off] [--store sqlite|postgres]
//
// --idempotency-keys on: every checkout carries a new Idempotency-Key (the replay check it pays).
// --store postgres: a database of its own on the test server (test/support/postgres.ts), dropped after.
//
// A root is a checkout of this repository with its node_modules (e.g. `git worktree add` or
// `git archive <commit> | tar -x -C <dir>` with a node_modules link).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '../test/support/postgres.ts';
import { drive, seedSkus, WORKLOADS, type Workload } from './load.ts';
import { spawnStockhold } from './processes.ts';

const { values: args } = parseArgs({
  options: {
    roots: { type: 'string' },
    workloads: { type: 'string', default: 'health,read,hot' },
    rounds: { type: 'string', default: '3' },
    requests: { type: 'string', default: '20000' },
    connections: { type: 'string', default: '64' },
    keys: { type: 'string', default: 'on' },
    'idempotency-keys': { type: 'string', default: 'off' },
    store: { type: 'string', default: 'sqlite' },
  },
});
if (!args.roots) throw new Error('--roots <before>,<after> is required');
const roots = args.roots.split(',');
const workloads = args.workloads.split(',').map((name) => {
  if (!WORKLOADS.includes(name as Workload)) throw new Error(`--workloads: unknown ${name}`);
  return name as Workload;
});
const rounds = Number(args.rounds);
const requests = Number(args.requests);
const connections = Number(args.connections);
/** Requests each server answers, unmeasured, before the measured ones (JIT, caches). */
const WARMUP_REQUESTS = 10_000;

const idempotency_keys = args['idempotency-keys'] === 'on';
const directory = mkdtempSync(join(tmpdir(), 'stockhold-compare-'));
const postgres = args.store === 'postgres' ? await createTestDatabase('stockhold_compare') : null;
const database_url = postgres?.url ?? `sqlite:${join(directory, 'compare.db')}`;
const cpu_us: Map<string, number[]> = new Map();
try {
  // One SKU serves every case: the checkouts take one unit each of its 10⁹.
  await seedSkus(database_url, 'hot');
  for (let round = 1; round <= rounds; round++) {
    for (const root of roots) {
      const server = await spawnStockhold(database_url, {}, { root, keyed: args.keys === 'on' });
      try {
        for (const workload of workloads) {
          await drive(server, workload, { connections, amount: WARMUP_REQUESTS, idempotency_keys });
          const result = await drive(server, workload, { connections, amount: requests, idempotency_keys });
          if (result.errors > 0) throw new Error(`${root} ${workload}: ${result.errors} errors`);
          const key = `${workload} ${root}`;
          cpu_us.set(key, [...(cpu_us.get(key) ?? []), result.cpu_us_per_request.server]);
          process.stderr.write(`round ${round} ${key}: ${result.cpu_us_per_request.server.toFixed(1)} µs\n`);
        }
      } finally {
        await server.stop();
      }
    }
  }
} finally {
  rmSync(directory, { recursive: true, force: true });
  await postgres?.drop();
}
for (const [key, values] of cpu_us) {
  const sorted = [...values].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)] ?? Number.NaN;
  process.stdout.write(
    `${key}: median ${median.toFixed(1)} µs/request (${values.map((v) => v.toFixed(1)).join(', ')})\n`,
  );
}
