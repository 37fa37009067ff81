// A failover, a proxy restart or an idle-session killer ends the server's PostgreSQL sessions
// (pg_terminate_backend) while checkouts are in flight. The real server process stays up, answers
// each request 201 or 503 storage_unavailable with Retry-After (never 500), takes checkouts again
// without a restart, and the database holds every acknowledged checkout with stock conserved.
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient } from '../support/server.ts';
import {
  expectAcknowledgedPresent,
  expectCheckoutsSucceed,
  expectHeldOrUnavailable,
  otherErrorLines,
  outageLines,
  POSTGRES_LOST_CAUSE,
  readyzBecomes,
  startCheckoutLoad,
  waitUntil,
} from './storage-support.ts';
import { expectVerified, expectVerifiedByCli, reportFigure } from './support.ts';

const STOCK = 1_000_000;
const ROUNDS = 4;

describe('PostgreSQL sessions terminated under a checkout burst', { timeout: 240_000 }, () => {
  let database: TestDatabase;
  let server: ServeProcess;
  let admin: pg.Client;

  beforeAll(async () => {
    database = await createTestDatabase('stockhold_terminated');
    server = await startServe({ DATABASE_URL: database.url, SWEEP_INTERVAL_MS: '50', PG_POOL_SIZE: '6' });
    admin = new pg.Client({ connectionString: database.url });
    await admin.connect();
  });
  afterAll(async () => {
    await admin?.end();
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      const exited = new Promise((resolve) => server.child.once('exit', resolve));
      server.child.kill('SIGTERM');
      await exited;
    }
    await database?.drop();
  });

  it('keeps the process up, answers 201 or 503 storage_unavailable, and recovers without a restart', async () => {
    const api = apiClient(server.url);
    expect((await api.post('/v1/skus', { sku: 'hot', available: STOCK })).status).toBe(201);

    const load = startCheckoutLoad(server.url, 'hot');
    let terminated = 0;
    for (let round = 0; round < ROUNDS; round++) {
      // Some checkouts are acknowledged between kills, so each kill lands in the middle of the burst.
      const held_before = load.held();
      expect(await waitUntil(() => load.held() >= held_before + 20)).toBe(true);
      const { rows } = await admin.query<{ n: number }>(
        `select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
         where datname = current_database() and pid <> pg_backend_pid()`,
      );
      terminated += rows[0]!.n;
    }
    const held_before = load.held();
    await waitUntil(() => load.held() >= held_before + 20);
    const answers = await load.stop();

    expect(server.child.exitCode).toBeNull();
    expect(server.child.signalCode).toBeNull();
    expect(terminated).toBeGreaterThanOrEqual(ROUNDS);
    expectHeldOrUnavailable(answers);
    const unavailable = answers.filter((answer) => answer.status === 503).length;
    reportFigure(
      'sessions terminated under load (PostgreSQL)',
      `${terminated} in ${ROUNDS} rounds; ${answers.length} checkouts: ${answers.length - unavailable} held, ${unavailable} answered 503`,
    );
    // Logged once per episode and source, with PostgreSQL's own reason, never once per request.
    const logged = outageLines(server.output);
    reportFigure(
      'log lines of the outages (PostgreSQL sessions terminated)',
      logged.map((line) => `${line.source}: ${line.cause}`).join(' | '),
    );
    expect(logged.length).toBeLessThanOrEqual(ROUNDS * 4);
    if (unavailable > 0) {
      expect(logged.length).toBeGreaterThan(0);
      const causes = logged.map((line) => line.cause).join('\n');
      expect(causes).toMatch(POSTGRES_LOST_CAUSE);
      // What pg says of a connection that died between two statements is not the cause.
      expect(causes).not.toContain('not queryable');
    }
    expect(otherErrorLines(server.output)).toEqual([]);

    // Back without a restart: the pool opens new sessions.
    await expectCheckoutsSucceed(server.url, 'hot');
    expect(await readyzBecomes(server.url, 200)).toBe(200);

    // Stopped, the database as an operator audits it after the incident.
    const exited = new Promise((resolve) => server.child.once('exit', resolve));
    server.child.kill('SIGTERM');
    expect(await exited).toBe(0);
    const store = await openMigratedStore(loadConfig({ DATABASE_URL: database.url }, undefined));
    try {
      await expectAcknowledgedPresent(store, answers);
      const sku = (await store.getSku('hot'))!;
      expect(sku.available + sku.on_hold + sku.sold).toBe(STOCK);
      await expectVerified(store);
    } finally {
      await store.close();
    }
    await expectVerifiedByCli(database.url);
  });
});
