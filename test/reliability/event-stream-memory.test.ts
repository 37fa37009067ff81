// Issue 19: subscribers of GET /v1/events that never read cannot grow the server's memory past its
// bound. A real `stockhold serve` child with a large backlog in its outbox, 300 raw sockets that ask
// for the whole backlog (Last-Event-ID: 0) and never read: the child's RSS (from /proc) stays under
// the bound, the non-readers are disconnected, a reader that reads gets every event (resuming with
// Last-Event-ID if it is cut), and /readyz keeps answering.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { eventually } from '../webhooks/receiver.ts';
import { envCount, reportFigure } from './support.ts';

const SUBSCRIBERS = envCount('STREAM_NON_READERS', 300);
/** Orders of 50 lines: each order.held event is about 5.5 kB, the backlog about 11 MB. */
const BACKLOG_ORDERS = envCount('STREAM_BACKLOG_ORDERS', 2000);
const LINES_PER_ORDER = 50;
const SUBSCRIBER_BUFFER_BYTES_MAX = 256 * 1024;
const BUFFER_BYTES_MAX = 32 * 1024 * 1024;
/**
 * What the child may grow by over its RSS before the storm: the streams' total bound, plus room for
 * 600 sockets, their parsers and the garbage the replays leave before V8 collects it (the young
 * generation alone may take 192 MB with --max-semi-space-size=64). Without the bounds, each of the
 * 300 streams holds up to 4 MiB of the backlog: well over a gigabyte.
 */
const RSS_GROWTH_BOUND_BYTES = BUFFER_BYTES_MAX + 320 * 1024 * 1024;

const directory = mkdtempSync(join(tmpdir(), 'stockhold-streams-'));
const database_url = `sqlite:${join(directory, 'stockhold.db')}`;
let serve: ServeProcess | undefined;
const sockets: Socket[] = [];

afterAll(async () => {
  for (const socket of sockets) socket.destroy();
  if (serve && serve.child.exitCode === null) {
    const exited = new Promise((resolve) => serve!.child.once('exit', resolve));
    serve.child.kill('SIGKILL');
    await exited;
  }
  rmSync(directory, { recursive: true, force: true });
});

async function seedBacklog(): Promise<number> {
  const store = await openMigratedStore(loadConfig({ DATABASE_URL: database_url }, undefined));
  try {
    const skus = Array.from({ length: LINES_PER_ORDER }, (_, index) => `backlog-${index}`);
    await store.execute(
      skus.map((sku) => ({
        command: {
          kind: 'create_sku' as const,
          sku,
          name: sku,
          available: 1_000_000,
          max_per_customer: null,
        },
      })),
      Date.now(),
    );
    for (let start = 0; start < BACKLOG_ORDERS; start += 100) {
      const count = Math.min(100, BACKLOG_ORDERS - start);
      await store.execute(
        Array.from({ length: count }, (_, index) => ({
          command: {
            kind: 'checkout' as const,
            order_id: `backlog-order-${start + index}`,
            customer_id: `c-${start + index}`,
            lines: skus.map((sku) => ({ sku, quantity: 1 })),
            hold_seconds: 86_400,
          },
        })),
        Date.now(),
      );
    }
    return await store.lastEventId();
  } finally {
    await store.close();
  }
}

function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

/** A client that sends the request and then never reads: its socket is paused at once. */
function openNonReader(port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET /v1/events HTTP/1.1\r\nhost: 127.0.0.1\r\nlast-event-id: 0\r\n\r\n`, () =>
        resolve(socket),
      );
      socket.pause();
    });
    socket.once('error', reject);
    sockets.push(socket);
  });
}

/** Reads the stream until `done` says so, resuming with Last-Event-ID when it is cut, as EventSource does. */
async function readAll(
  base_url: string,
  done: (ids: number[]) => boolean,
): Promise<{ ids: number[]; connections: number }> {
  const ids: number[] = [];
  let connections = 0;
  for (; connections < 50 && !done(ids); connections++) {
    const controller = new AbortController();
    try {
      const response = await fetch(`${base_url}/v1/events`, {
        headers: { 'last-event-id': String(ids.at(-1) ?? 0) },
        signal: controller.signal,
      });
      if (response.status === 503) {
        await response.body?.cancel();
        await new Promise((resolve) => setTimeout(resolve, 500));
        continue;
      }
      expect(response.status).toBe(200);
      const decoder = new TextDecoder();
      const reader = response.body!.getReader();
      let buffer = '';
      while (!done(ids)) {
        const { value, done: ended } = await reader.read();
        if (ended) break;
        buffer += decoder.decode(value, { stream: true });
        let end = buffer.indexOf('\n\n');
        while (end >= 0) {
          const id = /^id: (\d+)$/m.exec(buffer.slice(0, end));
          if (id) ids.push(Number(id[1]));
          buffer = buffer.slice(end + 2);
          end = buffer.indexOf('\n\n');
        }
      }
    } catch {
      // Cut by the server (a reset): resume after the last complete event.
    } finally {
      controller.abort();
    }
  }
  return { ids, connections };
}

it('300 subscribers that never read stay within the memory bound, are disconnected, and hurt no one else', async () => {
  const backlog_last_id = await seedBacklog();
  serve = await startServe({
    DATABASE_URL: database_url,
    EVENTS_SUBSCRIBER_BUFFER_BYTES_MAX: String(SUBSCRIBER_BUFFER_BYTES_MAX),
    EVENTS_BUFFER_BYTES_MAX: String(BUFFER_BYTES_MAX),
    EVENTS_STALL_TIMEOUT_MS: '2000',
    WEBHOOKS_WORKER: 'off',
  });
  const child = serve.child;
  const pid = child.pid!;
  const port = Number(new URL(serve.url).port);
  const baseline_rss = rssBytes(pid);
  let peak_rss = baseline_rss;
  // Sampled throughout; a server past its bound is stopped at once, so a regression fails fast
  // instead of taking the machine's memory.
  const sampler = setInterval(() => {
    if (child.exitCode !== null) return;
    peak_rss = Math.max(peak_rss, rssBytes(pid));
    if (peak_rss - baseline_rss > RSS_GROWTH_BOUND_BYTES) child.kill('SIGKILL');
  }, 50);
  const alive = () => {
    if (child.exitCode !== null || child.signalCode !== null)
      throw new Error(`the server is gone (peak RSS ${Math.round(peak_rss / 2 ** 20)} MiB)`);
  };

  try {
    const reader = readAll(serve.url, (ids) => ids.includes(backlog_last_id + 1));
    for (let index = 0; index < SUBSCRIBERS; index++) await openNonReader(port);

    // /readyz answers throughout (each probe bounded, so a server that stops answering fails it).
    let probes = 0;
    let slowest_probe_ms = 0;
    const disconnected = () =>
      serve!.output.filter((line) => line.includes('"msg":"event stream disconnected"')).length;
    await eventually(
      async () => {
        alive();
        const started = performance.now();
        const ready = await fetch(`${serve!.url}/readyz`, { signal: AbortSignal.timeout(10_000) });
        slowest_probe_ms = Math.max(slowest_probe_ms, performance.now() - started);
        expect(ready.status).toBe(200);
        probes++;
        return disconnected() >= SUBSCRIBERS;
      },
      'every non-reader disconnected',
      90_000,
    );

    // A live event after the storm: the reader gets the whole backlog and it, each once, in order.
    const live = await fetch(`${serve.url}/v1/skus/backlog-0/adjustments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ delta: 1 }),
    });
    expect(live.status).toBe(200);
    const { ids, connections } = await reader;
    expect(ids).toEqual(Array.from({ length: backlog_last_id + 1 }, (_, index) => index + 1));

    // Each non-reader, once it reads again, finds its stream ended by the server.
    const ended = sockets.map(
      (socket) =>
        new Promise<string>((resolve) => {
          let head = '';
          socket.on('data', (chunk: Buffer) => {
            if (head.length < 64) head += chunk.toString('latin1');
          });
          socket.on('error', () => {});
          socket.on('close', () => resolve(head.slice(0, 12)));
          socket.resume();
        }),
    );
    const heads = await Promise.all(ended);
    expect(new Set(heads)).toEqual(new Set(['HTTP/1.1 200']));
    alive();

    const growth = peak_rss - baseline_rss;
    reportFigure('event stream non-readers', SUBSCRIBERS);
    reportFigure('event stream backlog events', backlog_last_id);
    reportFigure('server RSS before, MiB', (baseline_rss / 2 ** 20).toFixed(0));
    reportFigure('server RSS peak, MiB', (peak_rss / 2 ** 20).toFixed(0));
    reportFigure('slowest /readyz during the storm, ms', slowest_probe_ms.toFixed(0));
    reportFigure('reader connections (resumed after a cut)', connections);
    expect(probes).toBeGreaterThan(0);
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND_BYTES);
  } finally {
    clearInterval(sampler);
  }
}, 240_000);
