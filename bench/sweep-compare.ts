// The sweeper's releases per second of two checkouts of the code, alternated: what a change to the
// sweep does, measured where one run is too noisy to say (a shared machine). Each run seeds a fresh
// database (a SQLite file, or a PostgreSQL database of its own, dropped after) and times the
// sweeper's loop in a child process of that checkout (`<root>/bench/sweep.ts`, `npm start`'s node
// flags), as `npm run bench` does; the machine's load average is printed beside each figure.
//
//   npx tsx bench/sweep-compare.ts --roots /path/to/before,/path/to/after [--stores sqlite,postgres]
//                                  [--holds 300000] [--skus 100] [--batch 5000] [--rounds 2]
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { createTestDatabase } from '../test/support/postgres.ts';
import { START_NODE_FLAGS } from './processes.ts';
import type { SweepOptions, SweepResult } from './sweep.ts';

const { values: args } = parseArgs({
  options: {
    roots: { type: 'string' },
    stores: { type: 'string', default: 'sqlite,postgres' },
    holds: { type: 'string', default: '300000' },
    skus: { type: 'string', default: '100' },
    batch: { type: 'string', default: '5000' },
    rounds: { type: 'string', default: '2' },
  },
});
if (!args.roots) throw new Error('--roots <before>,<after> is required');
const options: SweepOptions = {
  holds: Number(args.holds),
  skus: Number(args.skus),
  batch_size: Number(args.batch),
  audit: false,
};

async function freshDatabase(store: string): Promise<{ url: string; drop(): Promise<void> }> {
  if (store === 'sqlite') {
    const directory = mkdtempSync(join(tmpdir(), 'stockhold-sweep-'));
    return {
      url: `sqlite:${join(directory, 'sweep.db')}`,
      drop: async () => rmSync(directory, { recursive: true, force: true }),
    };
  }
  return createTestDatabase('stockhold_sweep');
}

/** One timed sweep by the code of `root` (its bench/sweep.ts, run as a child). */
async function sweepWith(root: string, database_url: string): Promise<SweepResult> {
  const child = spawn(
    process.execPath,
    [
      ...START_NODE_FLAGS,
      '--import',
      'tsx',
      join(root, 'bench/sweep.ts'),
      JSON.stringify({ database_url, options }),
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const output: Buffer[] = [];
  child.stdout.on('data', (chunk: Buffer) => output.push(chunk));
  const [code] = (await once(child, 'exit')) as [number | null];
  if (code !== 0) throw new Error(`${root}: the sweeper bench exited with code ${code}`);
  return JSON.parse(Buffer.concat(output).toString()) as SweepResult;
}

const rates = new Map<string, number[]>();
for (let round = 1; round <= Number(args.rounds); round++) {
  for (const store of args.stores.split(',')) {
    for (const root of args.roots.split(',')) {
      const database = await freshDatabase(store);
      try {
        const load = loadavg().map((value) => value.toFixed(1));
        const result = await sweepWith(root, database.url);
        const key = `${store} ${root}`;
        rates.set(key, [...(rates.get(key) ?? []), result.releases_per_second]);
        const cpu = result.cpu_us_per_release;
        process.stderr.write(
          `round ${round} ${key}: ${Math.round(result.releases_per_second)} releases/s, CPU µs/release ${cpu.process.toFixed(1)} process + ${cpu.database.toFixed(1)} database (${result.holds} in ${result.sweep_seconds.toFixed(1)} s; load ${load.join(' ')} before, ${loadavg()
            .map((value) => value.toFixed(1))
            .join(' ')} after)\n`,
        );
      } finally {
        await database.drop();
      }
    }
  }
}
for (const [key, values] of rates) {
  process.stdout.write(`${key}: ${values.map((value) => Math.round(value)).join(', ')} releases/s\n`);
}
