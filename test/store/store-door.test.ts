// The store is the only door to the database (issue 20): the repositories it builds write in its
// own transactions (the adapter's, with the store's outage handling), commits are observed through
// its feed, and which database a DATABASE_URL names each database's folder says.
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS as REGISTERED } from '../../src/store/dialects.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { databaseLocation } from '../../src/store/open-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

describe('a repository write when the SQLite file cannot grow', () => {
  let directory: string;
  let store: KyselyStore;
  beforeEach(async () => {
    directory = mkdtempSync(join(tmpdir(), 'stockhold-door-'));
    store = await openSqliteStore(join(directory, 'door.db'));
    await store.migrate();
  });
  afterEach(async () => {
    await store.close();
    rmSync(directory, { recursive: true, force: true });
  });

  it("fails as the store's own writes do: storage_unavailable, counted in the store's outages", async () => {
    const db = rawDatabase(store);
    const { rows } = await sql<{ page_count: number }>`pragma page_count`.execute(db);
    await sql.raw(`pragma max_page_count = ${rows[0]?.page_count}`).execute(db);
    // A URL longer than a page: the row needs new pages, which the file cannot take.
    const endpoint = { url: `https://example.com/${'x'.repeat(20_000)}`, secret: 's', event_types: null };
    await expect(store.webhooks.createEndpoint({ ...endpoint, now_ms: 1 })).rejects.toMatchObject({
      code: 'storage_unavailable',
    });
    expect(store.outages.down).toBe(true);
    expect(await store.webhooks.countEndpoints()).toBe(0);

    await sql`pragma max_page_count = 1073741823`.execute(db);
    await store.webhooks.createEndpoint({ ...endpoint, now_ms: 2 });
    expect(await store.webhooks.countEndpoints()).toBe(1);
  });
});

describe.each(DIALECTS)('the commit feed on %s', (dialect) => {
  let test_store: TestStore;
  beforeAll(async () => {
    test_store = await openTestStore(dialect);
  });
  afterAll(() => test_store?.dispose());

  it('tells each listener of every commit until it stops, and an observer that throws fails no write', async () => {
    const { store } = test_store;
    const heard: string[] = [];
    const stop = store.commits.listen((report) => heard.push(report.source));
    const stopThrowing = store.commits.listen(() => {
      throw new Error('a broken metric');
    });
    const create = (sku: string) => ({
      command: { kind: 'create_sku' as const, sku, name: sku, available: 1, max_per_customer: null },
    });
    const [result] = await store.execute([create('feed-1')], 1_000);
    expect(result?.outcome.ok).toBe(true);
    stop();
    stopThrowing();
    await store.execute([create('feed-2')], 1_001);
    expect(heard).toEqual(['execute']);
  });
});

describe('which database a DATABASE_URL names', () => {
  it("is each registered database's own answer", () => {
    expect(REGISTERED.map((dialect) => dialect.name)).toEqual(['sqlite', 'postgres']);
    expect(databaseLocation({ DATABASE_URL: 'sqlite:./data/x.db' })).toEqual({
      kind: 'sqlite',
      path: './data/x.db',
    });
    expect(databaseLocation({ DATABASE_URL: 'postgresql://db/shop' })).toEqual({
      kind: 'postgres',
      url: 'postgresql://db/shop',
    });
    expect(() => databaseLocation({ DATABASE_URL: 'mysql://db/shop' })).toThrow(
      /names none of the databases/,
    );
  });
});

describe('each database folder', () => {
  const ROLES = ['bulk-writes.ts', 'connect.ts', 'dialect.ts', 'migration-dialect.ts', 'usage-query.ts'];
  it.each(REGISTERED.map((dialect) => dialect.name))('src/store/%s has a file for each role', (name) => {
    const files = readdirSync(resolve(import.meta.dirname, '../../src/store', name));
    expect(files).toEqual(expect.arrayContaining([...ROLES, `${name}-store.ts`]));
  });
});
