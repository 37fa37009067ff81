// `stockhold verify` on real databases: a consistent one passes; a bucket changed behind the service's
// back or a deleted ledger row is found and named, with exit code 1.
import { rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { ManualClock } from '../../src/core/clock.ts';
import { openMigratedStore } from '../../src/server.ts';
import type { VerifyReport } from '../../src/store/ledger-audit.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, temporarySqliteUrl } from '../support/server.ts';
import { expectVerifiedByCli, verifyCli } from './support.ts';

/** Orders in every state: paid, paid late, cancelled, expired, pending. */
async function fillWithHistory(database_url: string): Promise<void> {
  const clock = new ManualClock();
  const server = await startTestServer({ database_url, clock, sweeper: false });
  try {
    const api = apiClient(server.url);
    await api.post('/v1/skus', { sku: 'lamp', available: 20 });
    await api.post('/v1/skus', { sku: 'desk', available: 5, max_per_customer: 3 });
    const order = (customer_id: string, hold_seconds = 60) =>
      api.post('/v1/orders', {
        customer_id,
        lines: [
          { sku: 'lamp', quantity: 2 },
          { sku: 'desk', quantity: 1 },
          { sku: 'lamp', quantity: 1 },
        ],
        hold_seconds,
      });
    const paid = await order('a');
    await api.post(`/v1/orders/${paid.body.id}/payment`, { payment_id: 'p-a' });
    const cancelled = await order('b');
    await api.post(`/v1/orders/${cancelled.body.id}/cancel`);
    const late = await order('c', 10);
    const expired = await order('d', 10);
    clock.advance(10_000);
    expect(await server.sweeper.sweepOnce()).toBe(2);
    expect((await api.post(`/v1/orders/${late.body.id}/payment`, { payment_id: 'p-c' })).body.late).toBe(
      true,
    );
    expect((await api.get(`/v1/orders/${expired.body.id}`)).body.status).toBe('expired');
    await order('e', 600);
    await api.post('/v1/skus/lamp/adjustments', { delta: 7, reason: 'restock' });
  } finally {
    await server.stop();
  }
}

async function verifyInProcess(database_url: string): Promise<VerifyReport> {
  const store = await openMigratedStore(loadConfig({ DATABASE_URL: database_url }, undefined));
  try {
    return await store.verify();
  } finally {
    await store.close();
  }
}

describe('stockhold verify on SQLite', () => {
  it('passes a database whose history has orders in every state', async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      await fillWithHistory(url);
      const report = await expectVerifiedByCli(url);
      expect(report).toMatchObject({ ok: true, skus_checked: 2, orders_checked: 5 });
      expect(report.ledger_rows_walked).toBeGreaterThan(10);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('names the sku whose bucket was changed with raw SQL, and exits 1', async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      await fillWithHistory(url);
      const db = new Database(url.slice('sqlite:'.length));
      db.prepare("update skus set available = available + 1 where sku = 'lamp'").run();
      db.close();
      const { code, report } = await verifyCli(url);
      expect(code).toBe(1);
      expect(report.ok).toBe(false);
      expect(report.problems.join('\n')).toMatch(/lamp: .*available/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('finds the gap and the order whose movement is missing when a ledger row is deleted', async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      await fillWithHistory(url);
      const db = new Database(url.slice('sqlite:'.length));
      db.prepare("delete from ledger where sku = 'desk' and kind = 'payment'").run();
      db.close();
      // The same checks in-process (each CLI start costs seconds): the CLI's exit code is tested above.
      const report = await verifyInProcess(url);
      expect(report.ok).toBe(false);
      const text = report.problems.join('\n');
      expect(text).toMatch(/desk: ledger seq \d+: expected seq/);
      expect(text).toMatch(/order .*: desk moved by \[hold x1\], a paid order moves it by \[hold,payment\]/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('finds a paid order turned back to pending behind the service', async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      await fillWithHistory(url);
      const db = new Database(url.slice('sqlite:'.length));
      db.prepare("update orders set status = 'pending_payment' where customer_id = 'a'").run();
      db.close();
      const report = await verifyInProcess(url);
      expect(report.ok).toBe(false);
      expect(report.problems.join('\n')).toMatch(/pending orders hold|holds 0 of lamp/);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });
});

describe('stockhold verify on PostgreSQL', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('stockhold_verify');
    await fillWithHistory(database.url);
  });
  afterAll(async () => {
    await database?.drop();
  });

  it('passes the consistent database, then names the bucket changed with raw SQL', async () => {
    expect((await verifyInProcess(database.url)).problems).toEqual([]);
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    try {
      await client.query("update skus set sold = sold + 2 where sku = 'desk'");
    } finally {
      await client.end();
    }
    const { code, report } = await verifyCli(database.url);
    expect(code).toBe(1);
    expect(report.problems.join('\n')).toMatch(/desk: .*sold/);
  });
});
