// Fair drops (issue 24) through the real HTTP server, on SQLite and PostgreSQL, with a manual clock
// and the admitter's passes run by hand: tickets and the random pre-queue, admission at the rate,
// the checkout's gate, pause and resume, sold out, the drop's limit, a restart. Every test ends with
// the audit.
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import { expectConservation } from '../support/invariants.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { DIALECTS } from '../support/stores.ts';

type Api = ReturnType<typeof apiClient>;

describe.each(DIALECTS)('drops, on %s', (dialect) => {
  const clock = new ManualClock();
  let server: TestServer;
  let database: TestDatabase | null = null;
  let api: Api;
  let counter = 0;

  async function start(database_url?: string) {
    server = await startTestServer({
      clock,
      sweeper: false,
      ...(database_url ? { database_url } : database ? { database_url: database.url } : {}),
    });
    api = apiClient(server.url);
  }

  beforeAll(async () => {
    database = dialect === 'postgres' ? await createTestDatabase() : null;
    await start();
  });
  afterAll(async () => {
    await server?.dispose();
    await database?.drop();
  });
  afterEach(async () => {
    await expectConservation(server.store);
    expect((await server.store.verify()).problems).toEqual([]);
  });

  async function newSku(available: number): Promise<string> {
    const sku = `drop-sku-${++counter}`;
    expect((await api.post('/v1/skus', { sku, available })).status).toBe(201);
    return sku;
  }
  /** A drop over `skus` starting `starts_in_ms` from now on the manual clock. */
  async function newDrop(skus: string[], extra: Record<string, unknown> = {}, starts_in_ms = 60_000) {
    const id = `drop-${++counter}`;
    const answer = await api.post('/v1/drops', {
      id,
      skus,
      starts_at: new Date(clock.now() + starts_in_ms).toISOString(),
      ...extra,
    });
    expect(answer.status).toBe(201);
    return answer.body as { id: string; starts_at: string; status: string };
  }
  async function join(drop_id: string, customer_id: string) {
    const answer = await api.post(`/v1/drops/${drop_id}/tickets`, { customer_id });
    expect([200, 201]).toContain(answer.status);
    return answer.body as { id: string; position: number | null; status: string };
  }
  async function ticket(drop_id: string, ticket_id: string) {
    const answer = await api.get(`/v1/drops/${drop_id}/tickets/${ticket_id}`);
    expect(answer.status).toBe(200);
    return answer.body;
  }
  async function buckets(sku: string) {
    const { body } = await api.get(`/v1/skus/${sku}`);
    return { available: body.available, on_hold: body.on_hold, sold: body.sold };
  }
  const admit = () => server.admitter.admitOnce();
  function checkout(sku: string, customer_id: string, admission_token?: string, quantity = 1) {
    return api.post('/v1/orders', {
      customer_id,
      lines: [{ sku, quantity }],
      hold_seconds: 600,
      ...(admission_token === undefined ? {} : { admission_token }),
    });
  }
  /** Starts the drop on the clock, positions the pre-queue and admits up to `seconds` of its rate. */
  async function startAndAdmit(drop: { starts_at: string }, seconds = 1) {
    clock.set(Date.parse(drop.starts_at));
    await admit();
    clock.advance(seconds * 1000);
    await admit();
  }

  it('creates a drop, refuses a second with the same id or a SKU already in a live drop, and reads it', async () => {
    const sku = await newSku(10);
    const drop = await newDrop([sku], { admission_per_second: 5, max_per_customer: 2 });
    expect(drop).toMatchObject({
      status: 'open',
      skus: [sku],
      admission_per_second: 5,
      admission_seconds: 300,
    });
    const again = await api.post('/v1/drops', { id: drop.id, skus: [sku], starts_at: drop.starts_at });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('drop_exists');
    const other = await api.post('/v1/drops', { id: `${drop.id}-b`, skus: [sku], starts_at: drop.starts_at });
    expect(other.status).toBe(409);
    expect(other.body.error).toMatchObject({
      code: 'sku_in_drop',
      details: { skus: [{ sku, drop_id: drop.id }] },
    });
    const unknown = await api.post('/v1/drops', {
      id: `${drop.id}-c`,
      skus: ['nope'],
      starts_at: drop.starts_at,
    });
    expect(unknown.body.error.code).toBe('sku_not_found');
    const backwards = await api.post('/v1/drops', {
      id: `${drop.id}-d`,
      skus: [sku],
      starts_at: drop.starts_at,
      ends_at: new Date(Date.parse(drop.starts_at) - 1000).toISOString(),
    });
    expect(backwards.status).toBe(400);
    const deleted = await api.raw('DELETE', `/v1/skus/${sku}`);
    expect(deleted.status).toBe(409);
    expect(deleted.body.error).toMatchObject({ code: 'sku_in_use', details: { drop_id: drop.id } });
    const read = await api.get(`/v1/drops/${drop.id}`);
    expect(read.status).toBe(200);
    expect(read.body.counts).toEqual({
      tickets: 0,
      waiting: 0,
      admitted: 0,
      used: 0,
      expired: 0,
      sold_out: 0,
    });
    expect((await api.get('/v1/drops')).body.items.map((item: { id: string }) => item.id)).toContain(drop.id);
    expect((await api.get('/v1/drops/none')).body.error.code).toBe('drop_not_found');
    expect((await api.get(`/v1/drops/${drop.id}/tickets/tkt_none`)).body.error.code).toBe('ticket_not_found');
  });

  it('gives one ticket per customer; before the start it has no position and a checkout is refused', async () => {
    const sku = await newSku(10);
    const drop = await newDrop([sku]);
    const first = await api.post(`/v1/drops/${drop.id}/tickets`, { customer_id: 'ann' });
    expect(first.status).toBe(201);
    expect(first.body).toMatchObject({
      status: 'waiting',
      position: null,
      ahead: null,
      admission_token: null,
    });
    const second = await api.post(`/v1/drops/${drop.id}/tickets`, { customer_id: 'ann' });
    expect(second.status).toBe(200);
    expect(second.body.id).toBe(first.body.id);
    const early = await checkout(sku, 'ann');
    expect(early.status).toBe(409);
    expect(early.body.error.code).toBe('drop_not_started');
    expect(await buckets(sku)).toEqual({ available: 10, on_hold: 0, sold: 0 });
  });

  it('takes a burst of joins together: one ticket per customer, however many times each asks at once', async () => {
    const sku = await newSku(10);
    const drop = await newDrop([sku]);
    const customers = Array.from({ length: 150 }, (_, index) => `burst-${index % 50}`);
    const answers = await Promise.all(
      customers.map((customer_id) => api.post(`/v1/drops/${drop.id}/tickets`, { customer_id })),
    );
    expect(answers.filter((answer) => answer.status === 201)).toHaveLength(50);
    expect(answers.filter((answer) => answer.status === 200)).toHaveLength(100);
    const by_customer = new Map<string, Set<string>>();
    for (const answer of answers) {
      const ids = by_customer.get(answer.body.customer_id) ?? new Set<string>();
      by_customer.set(answer.body.customer_id, ids.add(answer.body.id));
    }
    expect([...by_customer.values()].every((ids) => ids.size === 1)).toBe(true);
    expect((await api.get(`/v1/drops/${drop.id}`)).body.counts.tickets).toBe(50);
    // After the start a burst takes consecutive positions after the pre-queue's.
    clock.set(Date.parse(drop.starts_at));
    const late = await Promise.all(Array.from({ length: 30 }, (_, index) => join(drop.id, `after-${index}`)));
    expect(late.map((ticket) => ticket.position).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(
      Array.from({ length: 30 }, (_, index) => 51 + index),
    );
  });

  it('puts the pre-queue in a random order at the start and later tickets behind it, then admits in order at the rate', async () => {
    const sku = await newSku(100);
    const drop = await newDrop([sku], { admission_per_second: 4 });
    const early = [];
    for (let index = 0; index < 40; index++) early.push(await join(drop.id, `early-${index}`));
    clock.set(Date.parse(drop.starts_at));
    await admit();
    const late = await join(drop.id, 'late-1');
    expect(late.position).toBe(41);
    const positions = [];
    for (const taken of early) positions.push((await ticket(drop.id, taken.id)).position as number);
    expect([...positions].sort((a, b) => a - b)).toEqual(Array.from({ length: 40 }, (_, index) => index + 1));
    // Joined in order 0..39: a random order keeps few of them in place.
    expect(positions.filter((position, index) => position === index + 1).length).toBeLessThan(10);

    clock.advance(1000);
    await admit();
    const read = (await api.get(`/v1/drops/${drop.id}`)).body;
    expect(read).toMatchObject({ status: 'running', admitted_through: 4 });
    expect(read.counts).toMatchObject({ tickets: 41, waiting: 37, admitted: 4 });
    for (const [index, taken] of early.entries()) {
      const now = await ticket(drop.id, taken.id);
      const position = positions[index] ?? 0;
      if (position <= 4) {
        expect(now.status).toBe('admitted');
        expect(now.admission_token).toMatch(/^adm_/);
      } else {
        expect(now).toMatchObject({ status: 'waiting', admission_token: null, ahead: position - 5 });
        expect(now.estimated_wait_seconds).toBe(Math.ceil((position - 4) / 4));
      }
    }
    // A pass right after admits nothing more: the rate holds across passes.
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.admitted_through).toBe(4);
    // A long pause of the admitter banks at most a second of admissions.
    clock.advance(60_000);
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.admitted_through).toBe(8);
    const metrics = (await api.get('/metrics')).body as string;
    expect(metrics).toContain(`stockhold_drop_admitted_total{drop="${drop.id}"} 8`);
    expect(metrics).toContain(`stockhold_drop_waiting{drop="${drop.id}"} 33`);
    expect(metrics).toMatch(/stockhold_drop_time_to_admission_seconds_count \d+/);
  });

  it("holds stock only with the customer's own admission, once; a refusal for stock keeps it; a lapsed one is refused", async () => {
    const sku = await newSku(3);
    const drop = await newDrop([sku], { admission_per_second: 10, admission_seconds: 60 });
    const tickets = [];
    for (const customer of ['bea', 'cal', 'dan']) tickets.push(await join(drop.id, customer));
    await startAndAdmit(drop);
    const [bea, cal, dan] = await Promise.all(tickets.map((taken) => ticket(drop.id, taken.id)));
    expect([bea.status, cal.status, dan.status]).toEqual(['admitted', 'admitted', 'admitted']);

    expect((await checkout(sku, 'bea')).body.error.code).toBe('admission_required');
    expect((await checkout(sku, 'bea', 'adm_wrong')).body.error.code).toBe('admission_required');
    expect((await checkout(sku, 'bea', cal.admission_token)).body.error.code).toBe('admission_required');
    const held = await checkout(sku, 'bea', bea.admission_token);
    expect(held.status).toBe(201);
    expect(await ticket(drop.id, bea.id)).toMatchObject({ status: 'used', order_id: held.body.id });
    expect((await checkout(sku, 'bea', bea.admission_token)).body.error.code).toBe('admission_required');

    // cal asks for more than is left, is refused for stock and keeps the admission.
    const short = await checkout(sku, 'cal', cal.admission_token, 3);
    expect(short.body.error.code).toBe('insufficient_stock');
    expect((await ticket(drop.id, cal.id)).status).toBe('admitted');
    expect((await api.post(`/v1/orders/${held.body.id}/cancel`)).status).toBe(200);
    expect((await checkout(sku, 'cal', cal.admission_token, 3)).status).toBe(201);

    clock.advance(60_000);
    const lapsed = await checkout(sku, 'dan', dan.admission_token);
    expect(lapsed.status).toBe(409);
    expect(lapsed.body.error.code).toBe('admission_expired');
    expect((await ticket(drop.id, dan.id)).status).toBe('expired');
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.counts).toMatchObject({ used: 2, expired: 1 });
  });

  it('admits no more customers than there are units beyond the admissions still open', async () => {
    const sku = await newSku(2);
    const drop = await newDrop([sku], { admission_per_second: 100, admission_seconds: 60 });
    const taken = [];
    for (let index = 0; index < 6; index++) taken.push(await join(drop.id, `cap-${index}`));
    await startAndAdmit(drop);
    expect((await api.get(`/v1/drops/${drop.id}`)).body).toMatchObject({ admitted_through: 2 });
    const admitted = (await Promise.all(taken.map((one) => ticket(drop.id, one.id)))).filter(
      (one) => one.status === 'admitted',
    );
    // One of them buys a unit: one unit left, one admission open: nobody more.
    const first = admitted[0];
    expect((await checkout(sku, first.customer_id, first.admission_token)).status).toBe(201);
    clock.advance(1000);
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.admitted_through).toBe(2);
    // The other admission lapses: its unit opens for the next in line.
    clock.advance(60_000);
    await admit();
    clock.advance(1000);
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body).toMatchObject({
      admitted_through: 3,
      counts: { used: 1, expired: 1, admitted: 1, waiting: 3 },
    });
  });

  it("applies the drop's max_per_customer, and lets only the admitted order grow by a drop's SKU", async () => {
    const sku = await newSku(10);
    const free = await newSku(10);
    const drop = await newDrop([sku], { max_per_customer: 2 });
    const eve = await join(drop.id, 'eve');
    const fay = await join(drop.id, 'fay');
    await startAndAdmit(drop);
    const eve_token = (await ticket(drop.id, eve.id)).admission_token;
    const over = await checkout(sku, 'eve', eve_token, 3);
    expect(over.body.error).toMatchObject({ code: 'limit_exceeded', details: { max_per_customer: 2 } });
    const held = await checkout(sku, 'eve', eve_token, 1);
    expect(held.status).toBe(201);
    const grown = await api.raw('PATCH', `/v1/orders/${held.body.id}`, { lines: [{ sku, quantity: 2 }] });
    expect(grown.status).toBe(200);
    const too_much = await api.raw('PATCH', `/v1/orders/${held.body.id}`, { lines: [{ sku, quantity: 3 }] });
    expect(too_much.body.error.code).toBe('limit_exceeded');
    // fay holds a free SKU without admission, and may not add the drop's SKU to that order.
    const side = await checkout(free, 'fay');
    expect(side.status).toBe(201);
    const sneaked = await api.raw('PATCH', `/v1/orders/${side.body.id}`, {
      lines: [
        { sku: free, quantity: 1 },
        { sku, quantity: 1 },
      ],
    });
    expect(sneaked.status).toBe(403);
    expect(sneaked.body.error.code).toBe('admission_required');
    expect((await ticket(drop.id, fay.id)).status).toBe('admitted');
  });

  it('pauses while everything is held, resumes when a hold comes back, and releases the line when sold out', async () => {
    const sku = await newSku(1);
    const drop = await newDrop([sku], { admission_per_second: 1 });
    const taken = [];
    for (let index = 0; index < 5; index++) taken.push(await join(drop.id, `q-${index}`));
    await startAndAdmit(drop);
    const first = (await Promise.all(taken.map((one) => ticket(drop.id, one.id)))).find(
      (one) => one.status === 'admitted',
    );
    const held = await checkout(sku, first.customer_id, first.admission_token);
    expect(held.status).toBe(201);
    clock.advance(3000);
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.admitted_through).toBe(1);
    expect((await api.post(`/v1/orders/${held.body.id}/cancel`)).status).toBe(200);
    clock.advance(1000);
    await admit();
    expect((await api.get(`/v1/drops/${drop.id}`)).body.admitted_through).toBe(2);

    const second = (await Promise.all(taken.map((one) => ticket(drop.id, one.id)))).find(
      (one) => one.status === 'admitted' && one.customer_id !== first.customer_id,
    );
    const bought = await checkout(sku, second.customer_id, second.admission_token);
    expect(bought.status).toBe(201);
    expect((await api.post(`/v1/orders/${bought.body.id}/payment`, { payment_id: 'p-1' })).status).toBe(200);
    const last_event = (await server.store.lastEventId()) ?? 0;
    clock.advance(1000);
    await admit();
    const read = (await api.get(`/v1/drops/${drop.id}`)).body;
    expect(read.status).toBe('sold_out');
    expect(read.counts).toMatchObject({ waiting: 0, sold_out: 3 });
    const events = await server.store.eventsAfter(last_event, 10);
    expect(events.map((event) => event.type)).toContain('drop.sold_out');
    const joined_late = await api.post(`/v1/drops/${drop.id}/tickets`, { customer_id: 'too-late' });
    expect(joined_late.status).toBe(409);
    expect(joined_late.body.error.code).toBe('drop_closed');
  });

  it('keeps tickets, positions and admissions across a restart', async () => {
    const sku = await newSku(5);
    const drop = await newDrop([sku], { admission_per_second: 2 });
    const taken = [];
    for (let index = 0; index < 6; index++) taken.push(await join(drop.id, `r-${index}`));
    await startAndAdmit(drop);
    const before = await Promise.all(taken.map((one) => ticket(drop.id, one.id)));
    await server.stop();
    await start(server.database_url);
    const after = await Promise.all(taken.map((one) => ticket(drop.id, one.id)));
    expect(after).toEqual(before);
    const admitted = after.find((one) => one.status === 'admitted');
    expect((await checkout(sku, admitted.customer_id, admitted.admission_token)).status).toBe(201);
  });
});
