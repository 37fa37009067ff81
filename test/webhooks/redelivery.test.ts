// Issue 19: a delivery that used up its attempts can be redelivered by an admin, through the API
// (one delivery, or every failed one of an endpoint) and through `stockhold webhooks redeliver`; it
// then arrives. Idempotent while queued, 404 for unknown ids, 409 for a delivery that did not fail,
// admin scope only. On both databases (the webhook store's SQL runs on each).
import { rmSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { bearer, createTestKeys } from '../security/support.ts';
import { runStockhold } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer, temporarySqliteUrl } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';
import { eventually, type Receiver, startReceiver } from './receiver.ts';

let server: TestServer | undefined;
let database: TestDatabase | undefined;
let sqlite_directory: string | undefined;
let receiver: Receiver | undefined;

afterEach(async () => {
  await receiver?.close();
  await server?.dispose();
  await database?.drop();
  if (sqlite_directory) rmSync(sqlite_directory, { recursive: true, force: true });
  server = database = sqlite_directory = receiver = undefined;
});

for (const dialect of DIALECTS) {
  describe(`webhook redelivery on ${dialect}`, () => {
    it('redelivers a delivery that used up its attempts, via the route and via the CLI, and it arrives', async () => {
      let url: string;
      if (dialect === 'postgres') {
        database = await createTestDatabase('stockhold_redelivery');
        url = database.url;
      } else {
        const temporary = temporarySqliteUrl();
        sqlite_directory = temporary.directory;
        url = temporary.url;
      }
      const keys = await createTestKeys(url);
      server = await startTestServer({
        database_url: url,
        sweeper: false,
        env: {
          WEBHOOK_POLL_INTERVAL_MS: '20',
          WEBHOOK_BACKOFF_BASE_MS: '5',
          WEBHOOK_BACKOFF_MAX_MS: '20',
          WEBHOOK_TIMEOUT_MS: '1000',
          WEBHOOK_ATTEMPTS_MAX: '2',
          API_KEY_CACHE_TTL_MS: '0',
        },
      });
      const api = apiClient(server.url);
      const admin = bearer(keys.admin);
      let answer: number | 'hang' = 503;
      receiver = await startReceiver(() => answer);
      const target = receiver;

      const endpoint = await api.post(
        '/v1/webhooks',
        { url: target.url, event_types: ['order.held'] },
        admin,
      );
      expect(endpoint.status).toBe(201);
      const endpoint_id: string = endpoint.body.id;
      expect((await api.post('/v1/skus', { sku: 'resend', available: 10 }, admin)).status).toBe(201);
      const checkout = () =>
        api.post('/v1/orders', { customer_id: 'c1', lines: [{ sku: 'resend', quantity: 1 }] }, admin);
      expect((await checkout()).status).toBe(201);

      const deliveries = async (status?: string) =>
        (await api.get(`/v1/webhooks/${endpoint_id}/deliveries${status ? `?status=${status}` : ''}`, admin))
          .body.items as { id: string; status: string; attempts: number }[];
      await eventually(async () => (await deliveries('failed')).length === 1, 'the delivery failed for good');
      const [failed] = await deliveries('failed');
      expect(failed).toMatchObject({ attempts: 2 });
      expect(target.received).toHaveLength(2);
      const path = `/v1/webhooks/${endpoint_id}/deliveries/${failed!.id}/redeliver`;

      // Admin only; a refused call changes nothing.
      expect((await api.post(path, undefined, bearer(keys.read))).status).toBe(403);
      expect((await api.post(path, undefined, bearer(keys.checkout))).status).toBe(403);
      expect((await api.post(path)).status).toBe(401);
      expect(await deliveries('failed')).toHaveLength(1);
      // Unknown ids.
      const unknown_delivery = await api.post(
        `/v1/webhooks/${endpoint_id}/deliveries/nope/redeliver`,
        undefined,
        admin,
      );
      expect(unknown_delivery.status).toBe(404);
      expect(unknown_delivery.body.error.code).toBe('not_found');
      expect(
        (await api.post(`/v1/webhooks/nope/deliveries/${failed!.id}/redeliver`, undefined, admin)).status,
      ).toBe(404);
      expect((await api.post('/v1/webhooks/nope/redeliver', {}, admin)).status).toBe(404);

      // Through the route, while the receiver hangs: asking again changes nothing (one attempt).
      answer = 'hang';
      const first = await api.post(path, undefined, admin);
      expect(first.status).toBe(202);
      expect(first.body).toMatchObject({ id: failed!.id, attempts: expect.any(Number) });
      expect(['pending', 'sending']).toContain(first.body.status);
      expect((await api.post(path, undefined, admin)).status).toBe(202);
      await eventually(() => target.received.length === 3, 'the redelivered attempt');
      expect((await api.post(path, undefined, admin)).status).toBe(202);
      await eventually(
        async () => (await deliveries('failed')).length === 1,
        'failed again after its one attempt',
      );
      expect((await deliveries('failed'))[0]).toMatchObject({ attempts: 3 });
      expect(target.received).toHaveLength(3);

      // Through the CLI, against the database, as an operator after the outage.
      answer = 200;
      const cli = await runStockhold([
        'webhooks',
        'redeliver',
        endpoint_id,
        failed!.id,
        '--database-url',
        url,
      ]);
      expect(cli.stderr).toMatch(/^stockhold: using (SQLite file|PostgreSQL at) [^\n]+\n$/);
      expect(cli.code).toBe(0);
      expect(cli.stdout).toMatch(new RegExp(`^queued delivery ${failed!.id} \\(event \\d+, order.held\\)`));
      await eventually(
        async () => (await deliveries('succeeded')).some((delivery) => delivery.id === failed!.id),
        'the redelivery arrived',
      );
      expect(target.received.map((request) => request.answer)).toEqual([503, 503, 'hang', 200]);
      expect(new Set(target.received.map((request) => request.event.id)).size).toBe(1);
      const done = await api.post(path, undefined, admin);
      expect(done.status).toBe(409);
      expect(done.body.error.code).toBe('delivery_not_failed');
      const cli_done = await runStockhold([
        'webhooks',
        'redeliver',
        endpoint_id,
        failed!.id,
        '--database-url',
        url,
      ]);
      // Refused (exit 1): the command ran and the answer is no.
      expect(cli_done.code).toBe(1);
      expect(cli_done.stderr).toMatch(
        new RegExp(
          `\nstockhold: webhook delivery ${failed!.id} is succeeded: only a failed delivery is redelivered\n$`,
        ),
      );

      // Every failed delivery of the endpoint at once, after another outage.
      answer = 503;
      expect((await checkout()).status).toBe(201);
      expect((await checkout()).status).toBe(201);
      await eventually(async () => (await deliveries('failed')).length === 2, 'two more failed for good');
      answer = 200;
      const all = await api.post(`/v1/webhooks/${endpoint_id}/redeliver`, {}, admin);
      expect(all.status).toBe(202);
      expect(all.body).toEqual({ redelivered: 2 });
      await eventually(async () => (await deliveries('succeeded')).length === 3, 'both arrived');
      expect((await api.post(`/v1/webhooks/${endpoint_id}/redeliver`, { limit: 5 }, admin)).body).toEqual({
        redelivered: 0,
      });
    });
  });
}

describe('stockhold webhooks redeliver, misused', () => {
  it('ends with one clear line and exit 2 on bad arguments or configuration', async () => {
    const neither = await runStockhold([
      'webhooks',
      'redeliver',
      'some-endpoint',
      '--database-url',
      'sqlite::memory:',
    ]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toBe('stockhold: give either a delivery id or --all-failed\n');
    const bad_url = await runStockhold([
      'webhooks',
      'redeliver',
      'e',
      '--all-failed',
      '--database-url',
      'mysql://x',
    ]);
    expect(bad_url.code).toBe(2);
    expect(bad_url.stderr).toMatch(/^stockhold: invalid configuration: DATABASE_URL[^\n]*\n$/);
    const unknown = await runStockhold([
      'webhooks',
      'redeliver',
      'nope',
      '--all-failed',
      '--database-url',
      'sqlite::memory:',
    ]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.split('\n').at(-2)).toBe('stockhold: webhook endpoint nope does not exist');
  });
});
