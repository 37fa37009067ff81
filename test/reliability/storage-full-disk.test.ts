// The SQLite file's disk fills up under checkouts. Produced for real in two ways: a small tmpfs
// filled to the last byte (where this process may mount one: root), and the connection's
// max_page_count set to the file's size (anywhere). Either way: 503 storage_unavailable with
// Retry-After (never 500), /readyz 503, the log names SQLITE_FULL once rather than "cannot
// rollback", nothing is corrupted or lost, and once there is room again the server recovers alone.
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { createLogger } from '../../src/logger.ts';
import { startServer } from '../../src/server.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { apiClient } from '../support/server.ts';
import {
  expectAcknowledgedPresent,
  expectCheckoutsSucceed,
  expectHeldOrUnavailable,
  otherErrorLines,
  outageLines,
  readyzBecomes,
  startCheckoutLoad,
  waitUntil,
} from './storage-support.ts';
import { expectVerified, reportFigure } from './support.ts';

const STOCK = 1_000_000;
const TMPFS_SIZE = '16m';

type Mode = 'tmpfs' | 'max_page_count';

interface Disk {
  mode: Mode;
  directory: string;
  dispose(): void;
}

/** A small tmpfs of its own, or null where this process may not mount one. */
function mountTmpfs(): string | null {
  if (process.getuid?.() !== 0) return null;
  const directory = mkdtempSync(join(tmpdir(), 'stockhold-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_SIZE}`, 'tmpfs', directory], { stdio: 'pipe' });
    return directory;
  } catch {
    rmSync(directory, { recursive: true, force: true });
    return null;
  }
}

/** Writes a file until the file system refuses (ENOSPC), in chunks down to one page. */
function fillFileSystem(path: string): void {
  const fd = openSync(path, 'w');
  try {
    for (const chunk_bytes of [1024 * 1024, 4096]) {
      const chunk = Buffer.alloc(chunk_bytes, 1);
      // Bounded: the tmpfs is 16 MiB, so at most 16 Mi / 4 Ki writes of the smallest chunk.
      for (let i = 0; i < 8192; i++) {
        try {
          writeSync(fd, chunk);
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
          break;
        }
      }
    }
  } finally {
    closeSync(fd);
  }
}

/** Where the database goes: the tmpfs when wanted and mountable, else a plain temporary directory. */
function openDisk(wanted: Mode): Disk {
  const mounted = wanted === 'tmpfs' ? mountTmpfs() : null;
  const directory = mounted ?? mkdtempSync(join(tmpdir(), 'stockhold-full-'));
  return {
    mode: mounted ? 'tmpfs' : 'max_page_count',
    directory,
    dispose() {
      if (mounted) execFileSync('umount', [directory], { stdio: 'pipe' });
      rmSync(directory, { recursive: true, force: true });
    },
  };
}

async function fullDisk(wanted: Mode): Promise<void> {
  const disk = openDisk(wanted);
  const log: string[] = [];
  const logger = createLogger('info', 'stdout', { write: (line: string) => void log.push(line) });
  const database_url = `sqlite:${join(disk.directory, 'stockhold.db')}`;
  const config = loadConfig({ PORT: '0', DATABASE_URL: database_url, SWEEP_INTERVAL_MS: '50' }, undefined);
  const server = await startServer(config, { logger });
  const filler = join(disk.directory, 'filler');
  const setPageLimit = async (pages: number | null) => {
    const limit = pages ?? 1_073_741_823; // SQLite's default
    await sql.raw(`pragma max_page_count = ${limit}`).execute(rawDatabase(server.store));
  };
  try {
    const api = apiClient(server.url);
    expect((await api.post('/v1/skus', { sku: 'hot', available: STOCK })).status).toBe(201);
    const load = startCheckoutLoad(server.url, 'hot', { clients: 8 });
    expect(await waitUntil(() => load.held() >= 20)).toBe(true);

    if (disk.mode === 'tmpfs') fillFileSystem(filler);
    else {
      const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(
        rawDatabase(server.store),
      );
      await setPageLimit(rows[0]!.page_count);
    }
    // Full: checkouts are told to retry (the log fills before the file does, so not at once).
    const refused = () => load.answers.filter((answer) => answer.status === 503).length;
    expect(await waitUntil(() => refused() >= 30)).toBe(true);
    expect(await readyzBecomes(server.url, 503)).toBe(503);
    const held_while_full = load.held();

    // Nothing corrupted, nothing acknowledged lost, every invariant holds (reads still work).
    const { rows: integrity } = await sql<{ integrity_check: string }>`pragma integrity_check`.execute(
      rawDatabase(server.store),
    );
    expect(integrity.map((row) => row.integrity_check)).toEqual(['ok']);
    await expectAcknowledgedPresent(server.store, load.answers.slice());
    await expectVerified(server.store);

    // Room again: ready and taking checkouts, by itself.
    if (disk.mode === 'tmpfs') rmSync(filler);
    else await setPageLimit(null);
    expect(await readyzBecomes(server.url, 200)).toBe(200);
    expect(await waitUntil(() => load.held() >= held_while_full + 20)).toBe(true);
    const answers = await load.stop();
    await expectCheckoutsSucceed(server.url, 'hot');

    expectHeldOrUnavailable(answers);
    const unavailable = answers.filter((answer) => answer.status === 503).length;
    reportFigure(
      `SQLite disk full (${disk.mode})`,
      `${answers.length} checkouts: ${answers.length - unavailable} held, ${unavailable} answered 503`,
    );
    // The real cause, once per source and episode; never the ROLLBACK's complaint, never a 500.
    const logged = outageLines(log);
    reportFigure(
      `log lines of the outage (SQLite, ${disk.mode})`,
      logged.map((line) => `${line.source}: ${line.cause}`).join(' | '),
    );
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThan(unavailable);
    expect(logged.find((line) => line.source === 'the store')?.cause).toMatch(/^SQLITE_FULL/);
    expect(log.filter((line) => line.includes('cannot rollback'))).toEqual([]);
    expect(otherErrorLines(log)).toEqual([]);
    expect(log.some((line) => line.includes('the database is back'))).toBe(true);

    const sku = (await server.store.getSku('hot'))!;
    expect(sku.available + sku.on_hold + sku.sold).toBe(STOCK);
    await expectAcknowledgedPresent(server.store, answers);
    await expectVerified(server.store);
  } finally {
    if (disk.mode === 'tmpfs') rmSync(filler, { force: true });
    await server.close();
    disk.dispose();
  }
}

describe('the SQLite file on a full disk', { timeout: 240_000 }, () => {
  it('answers 503 storage_unavailable on a full file system (a tmpfs where it can mount one) and recovers', async () => {
    await fullDisk('tmpfs');
  });

  it('answers 503 storage_unavailable when the file may not grow (max_page_count) and recovers', async () => {
    await fullDisk('max_page_count');
  });
});
