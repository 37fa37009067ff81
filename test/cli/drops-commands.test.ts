// Fair drops from the command line (issue 24), against a running server (SQLite): `drops create|list|
// show|join|ticket [--watch]` and `orders create --admission-token`, each answered as the API answers
// it, each refusal one `error <code>` line with exit 1, bad arguments refused before any request.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, runStockhold } from '../support/cli.ts';
import { apiClient, startTestServer, type TestServer } from '../support/server.ts';
import { cleanEnv, expectApiError } from './support.ts';

/** Every test here starts several whole node processes; on a busy machine each takes seconds. */
const CLI_TEST_TIMEOUT_MS = 300_000;
/**
 * Time for the steps a test takes before a drop starts (two rounds of CLI processes, seconds each
 * on a loaded machine): the drop starts this long after it is created.
 */
const BEFORE_START_MS = 20_000;

function expectDone(result: CliResult): string {
  expect(result.code, result.stderr).toBe(0);
  return result.stdout;
}

describe('drops from the command line', () => {
  let server: TestServer;
  let api: ReturnType<typeof apiClient>;
  const stockhold = (...args: string[]) => runStockhold([...args, '--url', server.url], cleanEnv());

  beforeAll(async () => {
    server = await startTestServer();
    api = apiClient(server.url);
  });
  afterAll(async () => {
    await server?.dispose();
  });

  it('creates a drop, queues customers before the start, watches a ticket to its admission and checks out with its token', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    expect((await api.post('/v1/skus', { sku: 'console', available: 5 })).status).toBe(201);
    const starts_at = new Date(Date.now() + BEFORE_START_MS).toISOString();
    const created = expectDone(
      await stockhold(
        'drops',
        'create',
        'console-1212',
        '--skus',
        'console',
        '--starts-at',
        starts_at,
        '--rate',
        '50',
        '--admission-seconds',
        '120',
        '--max-per-customer',
        '1',
      ),
    );
    expect(created).toMatch(/^status:\s+open$/m);
    expect(created).toMatch(/^skus:\s+console$/m);
    expect(created).toMatch(new RegExp(`^starts_at:\\s+${starts_at}$`, 'm'));
    expect(created).toMatch(/^max_per_customer:\s+1$/m);

    const [ana, ben, early] = await Promise.all([
      stockhold('drops', 'join', 'console-1212', '--customer', 'ana', '--json'),
      stockhold('drops', 'join', 'console-1212', '--customer', 'ben'),
      stockhold('orders', 'create', '--customer', 'ana', '--line', 'console:1'),
    ]);
    const ana_ticket = JSON.parse(expectDone(ana));
    expect(ana_ticket).toMatchObject({ drop_id: 'console-1212', customer_id: 'ana', status: 'waiting' });
    expect(expectDone(ben)).toMatch(/^status:\s+waiting$/m);
    expect(ben.stderr).toMatch(/^follow it: stockhold drops ticket console-1212 \S+ --watch$/m);
    // Before the start a ticket has no place yet: the pre-queue is shuffled at starts_at.
    expect(ben.stdout).toMatch(/^position:\s+-$/m);
    expect(ben.stdout).toMatch(/^estimated_wait:\s+-$/m);
    const ben_id = /^id:\s+(\S+)$/m.exec(ben.stdout)?.[1];
    expectApiError(early, 'drop_not_started');

    const [again, shown] = await Promise.all([
      stockhold('drops', 'join', 'console-1212', '--customer', 'ana', '--json'),
      stockhold('drops', 'ticket', 'console-1212', ana_ticket.id),
    ]);
    expect(JSON.parse(expectDone(again)).id).toBe(ana_ticket.id);
    expect(expectDone(shown)).toMatch(/^position:\s+-$/m);
    expect(Date.now(), 'the steps before the start took longer than BEFORE_START_MS').toBeLessThan(
      Date.parse(starts_at),
    );

    const watched = await stockhold('drops', 'ticket', 'console-1212', ana_ticket.id, '--watch', '--json');
    const admitted = JSON.parse(expectDone(watched));
    expect(admitted).toMatchObject({ id: ana_ticket.id, status: 'admitted' });
    expect(admitted.admission_token).toEqual(expect.any(String));
    expect(watched.stderr).toMatch(/^\d\d:\d\d:\d\d {2}admitted$/m);

    // Ben's ticket shows his own token once he is admitted; it does not check Ana out.
    const ben_result = await stockhold('drops', 'ticket', 'console-1212', ben_id ?? '-', '--watch');
    const ben_watched = expectDone(ben_result);
    expect(ben_watched).toMatch(/^status:\s+admitted$/m);
    expect(ben_watched).toMatch(/^position:\s+[12]$/m);
    expect(ben_result.stderr).toMatch(
      /^check out before \S+: stockhold orders create --customer ben .* --admission-token \S+$/m,
    );
    const ben_token = /^admission_token:\s+(\S+)$/m.exec(ben_watched)?.[1];
    const [without, borrowed, over_limit] = await Promise.all([
      stockhold('orders', 'create', '--customer', 'ana', '--line', 'console:1'),
      stockhold(
        'orders',
        'create',
        '--customer',
        'ana',
        '--line',
        'console:1',
        '--admission-token',
        ben_token ?? '-',
      ),
      stockhold(
        'orders',
        'create',
        '--customer',
        'ana',
        '--line',
        'console:2',
        '--admission-token',
        admitted.admission_token,
      ),
    ]);
    expectApiError(without, 'admission_required');
    expectApiError(borrowed, 'admission_required');
    expectApiError(over_limit, 'limit_exceeded');

    const order = JSON.parse(
      expectDone(
        await stockhold(
          'orders',
          'create',
          '--customer',
          'ana',
          '--line',
          'console:1',
          '--admission-token',
          admitted.admission_token,
          '--json',
        ),
      ),
    );
    expect(order).toMatchObject({ customer_id: 'ana', status: 'pending_payment' });

    // One admission is one checkout.
    const reused = await stockhold(
      'orders',
      'create',
      '--customer',
      'ana',
      '--line',
      'console:1',
      '--admission-token',
      admitted.admission_token,
    );
    expectApiError(reused, 'admission_required');
    const [used, drop, listed, drop_json] = await Promise.all([
      stockhold('drops', 'ticket', 'console-1212', ana_ticket.id),
      stockhold('drops', 'show', 'console-1212'),
      stockhold('drops', 'list'),
      stockhold('drops', 'get', 'console-1212', '--json'),
    ]);
    expect(expectDone(used)).toMatch(/^status:\s+used$/m);
    expect(used.stdout).toMatch(new RegExp(`^order_id:\\s+${order.id}$`, 'm'));
    expect(used.stdout).toMatch(/^admission_token:\s+-$/m);
    expect(expectDone(drop)).toMatch(/^status:\s+running$/m);
    expect(drop.stdout).toMatch(/^tickets:\s+2$/m);
    expect(drop.stdout).toMatch(/^used:\s+1$/m);
    expect(drop.stdout).toMatch(/^admitted:\s+1$/m);
    expect(drop.stdout).toMatch(/^time_to_admission:\s+p50 \d+\.\d s, p99 \d+\.\d s$/m);
    expect(drop.stdout).toMatch(/^admitted_last_10s:\s+\d+ \(\d+\.\d\/s\)$/m);
    expect(expectDone(listed)).toMatch(
      /^ID\s+STATUS\s+STARTS_AT\s+TICKETS\s+WAITING\s+ADMITTED\s+USED\s+SKUS\nconsole-1212\s+running\s+\S+\s+2\s+0\s+1\s+1\s+console$/m,
    );
    expect(JSON.parse(expectDone(drop_json))).toEqual((await api.get('/v1/drops/console-1212')).body);
  });

  it('releases the queue when the drop sells out: a watched ticket ends sold_out (exit 1), a new one is refused', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    // The last unit is on hold before the drop exists: from the start nothing is available, so
    // admission pauses and the tickets wait until the hold is paid and the drop is sold out.
    expect((await api.post('/v1/skus', { sku: 'gpu', available: 1 })).status).toBe(201);
    const { body: held } = await api.post('/v1/orders', {
      customer_id: 'early-bird',
      lines: [{ sku: 'gpu', quantity: 1 }],
    });
    const asked_at = Date.now();
    const created = JSON.parse(
      expectDone(
        await stockhold('drops', 'create', 'gpu-drop', '--skus', 'gpu', '--starts-at', '+5s', '--json'),
      ),
    );
    // Relative to when the command ran: after asked_at, before the answer.
    expect(Date.parse(created.starts_at)).toBeGreaterThanOrEqual(asked_at + 5000);
    expect(Date.parse(created.starts_at)).toBeLessThanOrEqual(Date.now() + 5000);
    expect(created).toMatchObject({ status: 'open', admission_per_second: 50, admission_seconds: 300 });
    const { body: ticket } = await api.post('/v1/drops/gpu-drop/tickets', { customer_id: 'cy' });

    // Wait for the start, then sell the held unit.
    await new Promise((resolve) =>
      setTimeout(resolve, Math.max(0, Date.parse(created.starts_at) - Date.now())),
    );
    const waiting = expectDone(await stockhold('drops', 'ticket', 'gpu-drop', ticket.id));
    expect(waiting).toMatch(/^status:\s+waiting$/m);
    expect(waiting).toMatch(/^position:\s+1$/m);
    expect((await api.post(`/v1/orders/${held.id}/payment`, { payment_id: 'pay-gpu' })).status).toBe(200);

    const watched = await stockhold('drops', 'ticket', 'gpu-drop', ticket.id, '--watch');
    expect(watched.code, watched.stderr).toBe(1);
    expect(watched.stdout).toMatch(/^status:\s+sold_out$/m);
    expect(watched.stderr).toMatch(/ {2}sold_out$/m);
    const [late, shown] = await Promise.all([
      stockhold('drops', 'join', 'gpu-drop', '--customer', 'dee'),
      stockhold('drops', 'show', 'gpu-drop'),
    ]);
    expectApiError(late, 'drop_closed');
    expect(expectDone(shown)).toMatch(/^status:\s+sold_out$/m);
    expect(shown.stdout).toMatch(/^sold_out:\s+1$/m);
  });

  it('answers refusals of the API as one error line, exit 1', { timeout: CLI_TEST_TIMEOUT_MS }, async () => {
    for (const sku of ['tv', 'radio'])
      expect((await api.post('/v1/skus', { sku, available: 3 })).status).toBe(201);
    expectDone(await stockhold('drops', 'create', 'tv-drop', '--skus', 'tv', '--starts-at', '+1h'));
    const [exists, taken, unknown, missing, no_ticket, ends_early] = await Promise.all([
      stockhold('drops', 'create', 'tv-drop', '--skus', 'radio', '--starts-at', '+1h'),
      stockhold('drops', 'create', 'tv-again', '--skus', 'radio,tv', '--starts-at', '+1h'),
      stockhold('drops', 'create', 'ghost-drop', '--skus', 'ghost', '--starts-at', '+1h'),
      stockhold('drops', 'show', 'no-such-drop'),
      stockhold('drops', 'ticket', 'tv-drop', 'tkt_nope'),
      stockhold('drops', 'create', 'late-drop', '--skus', 'radio', '--starts-at', '+1h', '--ends-at', '+30m'),
    ]);
    expectApiError(exists, 'drop_exists');
    expectApiError(taken, 'sku_in_drop');
    expectApiError(unknown, 'sku_not_found');
    expectApiError(missing, 'drop_not_found');
    expectApiError(no_ticket, 'ticket_not_found');
    // Caught before any request: the order of the two times is the user's mistake.
    expect(ends_early.code).toBe(2);
    expect(ends_early.stderr).toMatch(/^stockhold: --ends-at \(\S+\) must be after --starts-at \(\S+\)/);
    expect((await api.get('/v1/drops/late-drop')).status).toBe(404);
  });

  it('refuses bad arguments before any request, naming the rule, exit 2', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const cases: [string[], string][] = [
      [['drops', 'create', 'd', '--starts-at', '+5m'], "required option '--skus <a,b,...>' not specified"],
      [['drops', 'create', 'd', '--skus', 'tv'], "required option '--starts-at <time>' not specified"],
      [['drops', 'create', 'd', '--skus', 'tv,tv', '--starts-at', '+5m'], 'tv is listed twice'],
      [['drops', 'create', 'd', '--skus', 'tv,,radio', '--starts-at', '+5m'], 'comma-separated'],
      [
        ['drops', 'create', 'd', '--skus', 'a b', '--starts-at', '+5m'],
        'a sku is 1..64 of A-Z a-z 0-9 . _ -',
      ],
      [
        ['drops', 'create', 'd', '--skus', 'tv', '--starts-at', 'tomorrow'],
        'a time is ISO 8601 with its zone',
      ],
      [['drops', 'create', 'd', '--skus', 'tv', '--starts-at', '2026-12-12T00:00:00'], 'with its zone'],
      [
        ['drops', 'create', 'd', '--skus', 'tv', '--starts-at', '+5m', '--rate', '0'],
        'must be a whole number in 1..10000',
      ],
      [
        ['drops', 'create', 'd', '--skus', 'tv', '--starts-at', '+5m', '--admission-seconds', '5'],
        'must be a whole number in 10..86400',
      ],
      [['drops', 'join', 'd'], "required option '--customer <id>' not specified"],
      [['drops', 'ticket', 'd'], "missing required argument 'ticket'"],
      [['drops', 'ticket', 'd', 't', '--watch', '--watch-seconds', '0'], 'must be a whole number in 1..'],
    ];
    const results = await Promise.all(cases.map(([args]) => stockhold(...args)));
    results.forEach((result, index) => {
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(cases[index]?.[1]);
      expect(result.stdout).toBe('');
    });
  });
});
