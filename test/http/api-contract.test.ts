// Input the stores can hold, alike on SQLite and PostgreSQL: a lone surrogate is refused before it
// reaches a group commit (it made PostgreSQL fail the whole batch, and every batch-mate then ran in
// a transaction of its own), well-formed text beyond the BMP is kept as sent, and a method a path
// does not answer is 405 with Allow.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CommitReport } from '../../src/store/commit-feed.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';

/** Checkouts that arrive together with the bad one: they must all be held, in one commit. */
const BATCH_MATES = 8;
/** How long the test waits for requests to reach the queue before failing (bounded, not a sleep). */
const QUEUED_WAIT_MS = 10_000;

async function waitFor(condition: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + QUEUED_WAIT_MS;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

describe.each(DIALECTS)('input the stores can hold, on %s', (dialect) => {
  let server: TestServer;
  let database: TestDatabase | null = null;
  let api: ReturnType<typeof apiClient>;

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    server = await startTestServer(database ? { database_url: database.url } : {});
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });

  it('refuses a lone surrogate in a checkout burst without making its batch-mates fall back', async () => {
    expect((await api.post('/v1/skus', { sku: 'burst', available: 100 })).status).toBe(201);
    const commits: CommitReport[] = [];
    const stopListening = server.store.commits.listen((report) => commits.push(report));
    // A gate on the first write: while it waits, the burst queues up behind it, so the burst is
    // decided in one batch whatever the timing of the sockets.
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    let held = false;
    const execute = server.store.execute.bind(server.store);
    server.store.execute = async (envelopes, now_ms) => {
      if (!held) {
        held = true;
        await gate;
      }
      return execute(envelopes, now_ms);
    };
    try {
      const checkout = (customer_id: string) =>
        api.post('/v1/orders', { customer_id, lines: [{ sku: 'burst', quantity: 1 }] });
      const first = checkout('first');
      await waitFor(() => held, 'the first checkout to reach the store');
      let bad_answered = false;
      const bad = checkout('x\ud800y').then((answer) => {
        bad_answered = true;
        return answer;
      });
      const mates = Array.from({ length: BATCH_MATES }, (_, index) => checkout(`mate-${index}`));
      // Refused by validation, the bad request never queues; before the fix it queued with the rest.
      await waitFor(
        () =>
          server.queue.length === BATCH_MATES + 1 || (server.queue.length === BATCH_MATES && bad_answered),
        'the burst to queue',
      );
      release();
      expect((await first).status).toBe(201);
      const answers = await Promise.all(mates);
      expect(answers.map((answer) => answer.status)).toEqual(Array(BATCH_MATES).fill(201));
      // The batch-mates were decided together: one commit holds all of them, and nothing else.
      const burst = commits.filter((report) => report.source === 'execute' && report.envelopes.length > 1);
      expect(burst).toHaveLength(1);
      const customers = burst[0]!.source === 'execute' ? burst[0]!.envelopes.map((e) => e.command) : [];
      expect(
        customers.map((command) => (command.kind === 'checkout' ? command.customer_id : command.kind)).sort(),
      ).toEqual(Array.from({ length: BATCH_MATES }, (_, index) => `mate-${index}`).sort());
      // Checked last, so a failure before the fix shows the fallback first.
      const refused = await bad;
      expect(refused.status).toBe(400);
      expect(refused.body.error.code).toBe('invalid_request');
      expect(refused.body.error.message).toContain('body/customer_id');
    } finally {
      release();
      server.store.execute = execute;
      stopListening();
    }
    const orders = await api.get('/v1/orders?sku=burst&limit=500');
    expect(orders.body.items).toHaveLength(BATCH_MATES + 1);
    await expectConservation(server.store);
  });

  it('keeps well-formed text beyond the BMP exactly as sent', async () => {
    const name = 'Sneaker 👟 size 42 — 𝔰𝔭𝔢𝔠𝔦𝔞𝔩';
    const created = await api.post('/v1/skus', { sku: 'astral', name, available: 3 });
    expect(created.status).toBe(201);
    expect((await api.get('/v1/skus/astral')).body.name).toBe(name);
    const order = await api.post('/v1/orders', {
      customer_id: 'cliente-🦜',
      lines: [{ sku: 'astral', quantity: 1 }],
    });
    expect(order.status).toBe(201);
    const listed = await api.get(`/v1/orders?customer_id=${encodeURIComponent('cliente-🦜')}`);
    expect(listed.body.items.map((item: { id: string }) => item.id)).toEqual([order.body.id]);
  });

  it('answers TRACE on a known path 405 with Allow, and an unknown path still 404', async () => {
    // fetch() may not send TRACE, so this one goes in-process.
    const trace = await server.app.inject({ method: 'TRACE' as 'GET', url: '/v1/skus' });
    expect(trace.statusCode).toBe(405);
    expect(trace.headers.allow).toBe('GET, HEAD, POST');
    expect(trace.json().error).toMatchObject({
      code: 'method_not_allowed',
      details: { allowed: ['GET', 'HEAD', 'POST'] },
    });
    const cancel = await server.app.inject({ method: 'GET', url: '/v1/orders/some-id/cancel' });
    expect(cancel.statusCode).toBe(405);
    expect(cancel.headers.allow).toBe('POST');
    const unknown = await server.app.inject({ method: 'TRACE' as 'GET', url: '/v1/nothing' });
    expect(unknown.statusCode).toBe(404);
  });

  it('takes a cancel with no body or an empty object, and refuses one with a field', async () => {
    expect((await api.post('/v1/skus', { sku: 'cancel-body', available: 3 })).status).toBe(201);
    const place = () =>
      api.post('/v1/orders', { customer_id: 'c', lines: [{ sku: 'cancel-body', quantity: 1 }] });
    const bare = (await place()).body.id;
    expect((await api.raw('POST', `/v1/orders/${bare}/cancel`)).status).toBe(200);
    const empty = (await place()).body.id;
    expect((await api.post(`/v1/orders/${empty}/cancel`, {})).status).toBe(200);
    const with_field = (await place()).body.id;
    const refused = await api.post(`/v1/orders/${with_field}/cancel`, { reason: 'x' });
    expect(refused.status).toBe(400);
    expect((await api.get(`/v1/orders/${with_field}`)).body.status).toBe('pending_payment');
  });
});
