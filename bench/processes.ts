// Child processes the benchmark measures: the real server (`node bin/stockhold.mjs serve`) and the
// no-op ceiling, each on its own free port, with their resident memory read from /proc.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { assert } from '../src/core/errors.ts';

export const ROOT = join(import.meta.dirname, '..');

/** How long a child may take to answer its readiness probe, and to exit after SIGTERM. */
const READY_TIMEOUT_MS = 60_000;
const EXIT_TIMEOUT_MS = 20_000;
/** Lines of a child's output kept to explain a failure. */
const OUTPUT_LINES_MAX = 40;

export interface ChildServer {
  url: string;
  pid: number;
  /** Headers every request to this server carries (the API key, when it requires one). */
  request_headers: Readonly<Record<string, string>>;
  rssBytes(): number;
  /** CPU time the process has used so far, all its threads, user and system (ms). */
  cpuMs(): number;
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Clock ticks per second of /proc's CPU times (USER_HZ): 100 on Linux. */
const TICKS_PER_SECOND = 100;

/** utime + stime of a live process, all threads, from /proc/<pid>/stat (Linux), in ms. */
export function cpuMsOf(pid: number): number {
  // The command name (field 2) may hold spaces; the fields after its closing parenthesis do not.
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND;
}

/** CPU time every process of the machine has used so far (user, nice, system, irq, softirq), in ms. */
export function machineCpuMs(): number {
  const [user, nice, system, , , irq, softirq] = readFileSync('/proc/stat', 'utf8')
    .split('\n')[0]!
    .trim()
    .split(/\s+/)
    .slice(1)
    .map(Number);
  return ((user! + nice! + system! + irq! + softirq!) * 1000) / TICKS_PER_SECOND;
}

/** VmRSS of a live process, from /proc/<pid>/status (Linux). */
export function rssBytesOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(match[1]) * 1024;
}

export interface SpawnOptions {
  /** node arguments before the script, e.g. --cpu-prof. */
  node_args?: string[];
  env?: Record<string, string>;
  /** Path answered 200 once the child is ready. */
  ready_path: string;
  request_headers?: Readonly<Record<string, string>>;
}

export async function spawnServer(script_args: string[], options: SpawnOptions): Promise<ChildServer> {
  const port = await freePort();
  const child = spawn(process.execPath, [...(options.node_args ?? []), ...script_args], {
    cwd: ROOT,
    env: { ...process.env, ...options.env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(...chunk.toString().split('\n').filter(Boolean));
    output.splice(0, Math.max(0, output.length - OUTPUT_LINES_MAX));
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitReady(`${url}${options.ready_path}`, child, exited);
  } catch (error) {
    child.kill('SIGKILL');
    throw new Error(`${(error as Error).message}\n${output.join('\n')}`);
  }
  const pid = child.pid;
  // A child that answered its readiness probe was spawned, so it has a pid.
  assert(pid !== undefined, 'the server answered its readiness probe but has no pid');
  return {
    url,
    pid,
    request_headers: options.request_headers ?? {},
    rssBytes: () => rssBytesOf(pid),
    cpuMs: () => cpuMsOf(pid),
    async stop() {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), EXIT_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function waitReady(url: string, child: ChildProcess, exited: Promise<number | null>): Promise<void> {
  const deadline_ms = Date.now() + READY_TIMEOUT_MS;
  let gone = false;
  void exited.then(() => {
    gone = true;
  });
  while (Date.now() < deadline_ms) {
    if (gone) throw new Error(`the server exited with code ${child.exitCode} before it was ready`);
    try {
      const response = await fetch(url);
      if (response.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`the server did not answer ${url} within ${READY_TIMEOUT_MS} ms`);
}

/**
 * The node flags `npm start` gives the server (package.json's start script: `node <flags>
 * bin/stockhold.mjs serve`). Every server measured here runs with them, the ceiling too, so the
 * bench measures what users run and compares like with like.
 */
export const START_NODE_FLAGS: readonly string[] = (() => {
  const manifest = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
    scripts: { start: string };
  };
  const [command, ...words] = manifest.scripts.start.split(/\s+/);
  const script = words.indexOf('bin/stockhold.mjs');
  if (command !== 'node' || script < 0) {
    throw new Error(`package.json's start script is not \`node <flags> bin/stockhold.mjs …\``);
  }
  return words.slice(0, script);
})();

/**
 * The admin key the bench's servers require (STOCKHOLD_API_KEYS) unless run with --keys off: every
 * request is then checked as a storefront's would be (access control, the per-key limit).
 */
export const BENCH_API_KEY = 'bench_admin_key_0123456789abcdefghijklmnopqrstuv';

/**
 * The real server on the given database, as `npm start` runs it. `keyed`: it requires a key, which
 * every request carries; `root`: the checkout whose server runs (another one, to compare code).
 */
export function spawnStockhold(
  database_url: string,
  env: Record<string, string>,
  options: { node_args?: string[]; keyed?: boolean; root?: string } = {},
): Promise<ChildServer> {
  const keyed = options.keyed ?? false;
  return spawnServer([join(options.root ?? ROOT, 'bin/stockhold.mjs'), 'serve'], {
    node_args: [...START_NODE_FLAGS, ...(options.node_args ?? [])],
    env: {
      LOG_LEVEL: 'warn',
      ...env,
      DATABASE_URL: database_url,
      ...(keyed ? { STOCKHOLD_API_KEYS: `admin:${BENCH_API_KEY}` } : {}),
    },
    ready_path: '/readyz',
    request_headers: keyed ? { authorization: `Bearer ${BENCH_API_KEY}` } : {},
  });
}

/**
 * The ceiling: a fastify server that parses the same POST and answers a similar order, doing nothing.
 * With `keyed`, the load sends it the same Authorization header as stockhold's (it ignores it).
 */
export function spawnCeiling(keyed = false): Promise<ChildServer> {
  return spawnServer(['--import', 'tsx', 'bench/ceiling-server.ts'], {
    node_args: [...START_NODE_FLAGS],
    ready_path: '/healthz',
    request_headers: keyed ? { authorization: `Bearer ${BENCH_API_KEY}` } : {},
  });
}
