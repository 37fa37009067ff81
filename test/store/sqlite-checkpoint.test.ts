import { copyFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import BetterSqlite3 from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';

describe('the SQLite checkpoint thread', () => {
  let directory: string;
  afterEach(() => rmSync(directory, { recursive: true, force: true }));

  /** SKUs readable from the database file alone, as if its write-ahead log were lost. */
  function skusInFileAlone(path: string): number {
    const copy = join(directory, 'file-alone.db');
    copyFileSync(path, copy);
    const connection = new BetterSqlite3(copy, { readonly: true });
    try {
      return (connection.prepare('select count(*) as n from skus').get() as { n: number }).n;
    } catch {
      return 0; // not even the tables have reached the file
    } finally {
      connection.close();
    }
  }

  it('copies committed writes into the database file soon, without the writer checkpointing', async () => {
    directory = mkdtempSync(join(tmpdir(), 'stockhold-checkpoint-'));
    const path = join(directory, 'stockhold.db');
    const store = await openSqliteStore(path);
    try {
      await store.migrate();
      const envelopes = Array.from({ length: 50 }, (_, i) => ({
        command: {
          kind: 'create_sku' as const,
          sku: `sku-${i}`,
          name: 'x',
          available: 10,
          max_per_customer: null,
        },
      }));
      await store.execute(envelopes, Date.now());
      // A few dozen pages of log: far below the writer's own checkpoint threshold (20,000 pages),
      // so only the thread can have copied them.
      const deadline_ms = Date.now() + 10_000;
      while (skusInFileAlone(path) < 50 && Date.now() < deadline_ms) {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(skusInFileAlone(path)).toBe(50);
    } finally {
      await store.close();
    }
  });
});
