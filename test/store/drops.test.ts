// Fair drops (issue 24) on both stores, below the HTTP layer: the pre-queue's order is random (join
// order and position uncorrelated), admission across several store instances (processes, on
// PostgreSQL) admits each position once at the drop's rate in total, joins racing the start from
// several instances get unique gapless positions (also from a clock behind the start), a SKU stays
// in at most one live drop, admission pauses while everything is held and resumes when the holds
// expire, a pause seen by an instance whose clock is behind banks nothing, and an admission opens
// only its own drop. Commands go through store.execute (the write path), tickets and admissions
// through store.drops.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Command } from '../../src/core/types.ts';
import type { AdmissionReport } from '../../src/store/drop-repository.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import type { Outcome } from '../../src/store/store.ts';
import { expectConservation } from '../support/invariants.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const T0 = Date.UTC(2026, 11, 12, 10);
/** Store instances standing for server processes (on SQLite the one writer, shared). */
const INSTANCES = 3;

/** Spearman's rank correlation of two rankings of the same items, each a permutation of 1..n. */
function spearman(ranks_a: readonly number[], ranks_b: readonly number[]): number {
  const n = ranks_a.length;
  let squares = 0;
  for (let index = 0; index < n; index++) squares += ((ranks_a[index] ?? 0) - (ranks_b[index] ?? 0)) ** 2;
  return 1 - (6 * squares) / (n * (n * n - 1));
}

/** 1..n */
const oneTo = (n: number): number[] => Array.from({ length: n }, (_, index) => index + 1);

describe.each(DIALECTS)('drops on %s', (dialect) => {
  let subject: TestStore;
  let stores: KyselyStore[];

  beforeAll(async () => {
    subject = await openTestStore(dialect);
    stores = [subject.store];
    for (let index = 1; index < INSTANCES; index++) stores.push(await subject.another());
  });
  afterAll(async () => subject?.dispose());
  beforeEach(async () => subject.reset());

  async function run(command: Command, now_ms: number, store = subject.store): Promise<Outcome> {
    const [result] = await store.execute([{ command }], now_ms);
    if (!result) throw new Error('execute answered nothing');
    return result.outcome;
  }
  async function expectOk(command: Command, now_ms: number): Promise<void> {
    const outcome = await run(command, now_ms);
    expect(outcome.ok, JSON.stringify(outcome)).toBe(true);
  }
  const codeOf = (outcome: Outcome) => (outcome.ok ? 'ok' : outcome.error.code);

  async function newSku(sku: string, available: number): Promise<void> {
    await expectOk({ kind: 'create_sku', sku, name: sku, available, max_per_customer: null }, T0);
  }
  async function newDrop(
    drop_id: string,
    skus: string[],
    starts_at_ms: number,
    fields: { admission_per_second?: number; admission_seconds?: number } = {},
  ): Promise<void> {
    await expectOk(
      {
        kind: 'create_drop',
        drop_id,
        skus,
        starts_at_ms,
        ends_at_ms: null,
        admission_per_second: fields.admission_per_second ?? 50,
        admission_seconds: fields.admission_seconds ?? 300,
        max_per_customer: null,
      },
      T0,
    );
  }
  function checkout(sku: string, customer_id: string, admission_token: string | null, now_ms: number) {
    return run(
      {
        kind: 'checkout',
        order_id: `o-${customer_id}-${sku}-${now_ms}`,
        customer_id,
        lines: [{ sku, quantity: 1 }],
        hold_seconds: 5,
        admission_token,
      },
      now_ms,
    );
  }
  /** The drop's tickets as stored, by customer. */
  async function tickets(drop_id: string) {
    const rows = await rawDatabase(subject.store)
      .selectFrom('drop_tickets')
      .selectAll()
      .where('drop_id', '=', drop_id)
      .execute();
    return new Map(
      rows.map((row) => [
        row.customer_id,
        {
          position: row.position === null ? null : Number(row.position),
          status: row.status,
          token: row.admission_token,
        },
      ]),
    );
  }
  async function drop(drop_id: string) {
    const found = await subject.store.drops.getDrop(drop_id);
    if (!found) throw new Error(`drop ${drop_id} is missing`);
    return found;
  }
  /** `count` joins at `now_ms(index)`, `width` at a time, spread over the instances. */
  async function joinMany(
    drop_id: string,
    customers: readonly string[],
    now_ms: (index: number) => number,
    width = 40,
  ): Promise<void> {
    for (let start = 0; start < customers.length; start += width) {
      // Every join of the wave ends before the test goes on, also when one fails (no retries left
      // running into the next test).
      const joined = await Promise.allSettled(
        customers.slice(start, start + width).map((customer, offset) => {
          const index = start + offset;
          const store = stores[index % stores.length] ?? subject.store;
          return store.drops.join(drop_id, customer, now_ms(index));
        }),
      );
      for (const result of joined) if (result.status === 'rejected') throw result.reason;
    }
  }

  it('puts the pre-queue in a random order: join order and position are uncorrelated', async () => {
    const count = 2_000;
    await newSku('shoe', 10);
    const starts_at_ms = T0 + 3_600_000;
    await newDrop('shuffle', ['shoe'], starts_at_ms);
    const customers = Array.from({ length: count }, (_, index) => `c${String(index).padStart(5, '0')}`);
    // Joined in order, a millisecond apart (a few at once: what happens at once has no order).
    await joinMany('shuffle', customers, (index) => T0 + 1_000 + index);
    expect([...(await tickets('shuffle')).values()].every((ticket) => ticket.position === null)).toBe(true);

    await subject.store.drops.admit(starts_at_ms);
    const stored = await tickets('shuffle');
    const positions = customers.map((customer) => stored.get(customer)?.position ?? 0);
    expect([...positions].sort((a, b) => a - b)).toEqual(oneTo(count));
    expect((await drop('shuffle')).next_position).toBe(count);

    // A real shuffle of 2,000 gives |rho| about 0.02; joining order kept would give 1.
    const rho = spearman(oneTo(count), positions);
    expect(Math.abs(rho)).toBeLessThan(0.1);
    // The first tenth of the joiners spreads over the tenths of the line: a chi-square with nine
    // degrees of freedom, 35 is past its 0.99995 quantile (first come first served would give 1,800).
    const decile = count / 10;
    const spread = new Array<number>(10).fill(0);
    for (const position of positions.slice(0, decile)) {
      const slot = Math.floor((position - 1) / decile);
      spread[slot] = (spread[slot] ?? 0) + 1;
    }
    const expected = decile / 10;
    const chi_square = spread.reduce((sum, seen) => sum + (seen - expected) ** 2 / expected, 0);
    expect(chi_square, `first tenth of joiners by tenth of the line: ${spread.join(' ')}`).toBeLessThan(35);
  }, 120_000);

  it('admits each position once at the rate in total, with every instance admitting and joining at once', async () => {
    const rate = 200;
    const pass_ms = 100;
    const rounds = 50;
    await newSku('console', 100_000);
    const starts_at_ms = T0 + 60_000;
    await newDrop('burst', ['console'], starts_at_ms, {
      admission_per_second: rate,
      admission_seconds: 3600,
    });
    const early = Array.from({ length: 1_500 }, (_, index) => `e${index}`);
    await joinMany('burst', early, (index) => T0 + index);

    const reports: AdmissionReport[] = [];
    let late = 0;
    for (let round = 0; round <= rounds; round++) {
      const now_ms = starts_at_ms + round * pass_ms;
      // Every instance runs its admitter pass at the same moment, by clocks a few milliseconds
      // apart, while customers keep joining through every instance.
      const passes = stores.map((store, index) => store.drops.admit(now_ms - 2 * index));
      const joins = stores.map((store, index) =>
        store.drops.join('burst', `late-${late++}`, Math.max(starts_at_ms, now_ms - index)),
      );
      for (const done of await Promise.all(passes)) reports.push(...done);
      await Promise.all(joins);
    }

    const state = await drop('burst');
    const stored = [...(await tickets('burst')).values()];
    const total = early.length + late;
    // Positions: the pre-queue then every late join, unique and without a gap.
    expect(stored.map((ticket) => ticket.position).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(oneTo(total));
    expect(state.next_position).toBe(total);
    // Exactly once: the admitted tickets are the positions 1..admitted_through, each counted by one pass.
    const admitted = stored.filter((ticket) => ticket.status === 'admitted');
    const admitted_by_passes = reports.reduce((sum, report) => sum + report.admitted, 0);
    expect(admitted_by_passes).toBe(admitted.length);
    expect(state.admitted_through).toBe(admitted.length);
    expect(state.admitted_through).toBeLessThanOrEqual(state.next_position);
    for (const ticket of stored) {
      expect(ticket.status).toBe((ticket.position ?? 0) <= state.admitted_through ? 'admitted' : 'waiting');
    }
    // The rate is the drop's in total, not one per instance: rounds * pass_ms of it, within one pass.
    const expected = (rate * rounds * pass_ms) / 1000;
    expect(Math.abs(state.admitted_through - expected)).toBeLessThanOrEqual((rate * pass_ms) / 1000);
    const stats = await subject.store.drops.stats(state, starts_at_ms + rounds * pass_ms);
    expect(stats.counts).toMatchObject({ tickets: total, admitted: admitted.length });
  }, 120_000);

  it('gives joins racing the start from every instance unique, gapless positions', async () => {
    await newSku('tee', 100);
    const starts_at_ms = T0 + 60_000;
    await newDrop('race-start', ['tee'], starts_at_ms);
    const before = Array.from({ length: 30 }, (_, index) => `pre-${index}`);
    await joinMany('race-start', before, () => T0);
    // A customer who asks twice at once (a double click) before the start has one ticket too.
    const double = await Promise.all(stores.map((store) => store.drops.join('race-start', 'pre-0', T0 + 1)));
    expect(new Set(double.map((joined) => joined.ticket.id)).size).toBe(1);
    expect(double.some((joined) => joined.created)).toBe(false);
    // 45 joins at once from every instance, their clocks at the start or a millisecond or two past
    // it: whichever comes first positions the pre-queue, the others queue after it. (Clocks behind
    // the start are the next test's.)
    const racing = Array.from({ length: 45 }, (_, index) => `race-${index}`);
    await joinMany('race-start', racing, (index) => starts_at_ms + (index % 3), 45);
    const stored = await tickets('race-start');
    const positions = [...stored.values()].map((ticket) => ticket.position);
    expect(positions.every((position) => position !== null)).toBe(true);
    expect(positions.sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual(oneTo(75));
    expect((await drop('race-start')).next_position).toBe(75);
    // Those that joined before the race are the shuffled pre-queue, ahead of every join of the race.
    const last_early = Math.max(...before.map((customer) => stored.get(customer)?.position ?? 0));
    expect(last_early).toBe(30);
    // One ticket per customer, also when the same customer joins from every instance at once.
    const again = await Promise.all(
      stores.map((store) => store.drops.join('race-start', 'twice', starts_at_ms)),
    );
    expect(new Set(again.map((joined) => joined.ticket.id)).size).toBe(1);
    expect(again.filter((joined) => joined.created)).toHaveLength(1);
  }, 120_000);

  it('lets joins from a clock behind the start queue after the line another instance positioned', async () => {
    // Another process positioned the line at the start; this burst comes from processes whose clocks
    // are a few milliseconds behind. Each join must take the next position, none be refused.
    await newSku('cap', 100);
    const starts_at_ms = T0 + 60_000;
    await newDrop('behind', ['cap'], starts_at_ms);
    await joinMany('behind', ['pre-0', 'pre-1'], () => T0);
    await stores[stores.length - 1]?.drops.admit(starts_at_ms);
    const behind = Array.from({ length: 3 }, (_, index) => `behind-${index}`);
    const joined = await Promise.allSettled(
      behind.map((customer, index) =>
        (stores[index % stores.length] ?? subject.store).drops.join('behind', customer, starts_at_ms - 5),
      ),
    );
    const refused = joined.flatMap((result) => (result.status === 'rejected' ? [String(result.reason)] : []));
    expect(refused).toEqual([]);
    const positions = [...(await tickets('behind')).values()].map((ticket) => ticket.position ?? 0);
    expect(positions.sort((a, b) => a - b)).toEqual(oneTo(5));
  }, 120_000);

  it('keeps a SKU in at most one live drop, also across a delete and a re-creation of the SKU', async () => {
    // docs/drops.md: "A SKU is in at most one drop that is open or running". A SKU put in a drop has
    // moved no unit, so a delete may find it at version 1; either the delete is refused, or the
    // SKU created again under the same id is not left listed by the first drop and taken by a second.
    await newSku('solo', 3);
    const starts_at_ms = T0 + 60_000;
    await newDrop('first', ['solo'], starts_at_ms);
    const deleted = await run({ kind: 'delete_sku', sku: 'solo' }, T0);
    if (deleted.ok) {
      await newSku('solo', 3);
      await run(
        {
          kind: 'create_drop',
          drop_id: 'second',
          skus: ['solo'],
          starts_at_ms,
          ends_at_ms: null,
          admission_per_second: 50,
          admission_seconds: 300,
          max_per_customer: null,
        },
        T0,
      );
    }
    const live = (await subject.store.drops.listDrops(10)).filter(
      (listed) => listed.skus.includes('solo') && listed.sold_out_at_ms === null,
    );
    expect(live.map((listed) => listed.id)).toHaveLength(1);
  });

  it('pauses admission while every unit is held and resumes when the holds expire', async () => {
    await newSku('gpu', 2);
    const starts_at_ms = T0 + 60_000;
    await newDrop('gpus', ['gpu'], starts_at_ms, { admission_per_second: 1, admission_seconds: 600 });
    const customers = ['a', 'b', 'c', 'd', 'e', 'f'];
    await joinMany('gpus', customers, () => T0);
    for (const after_ms of [0, 1_000, 2_000]) await subject.store.drops.admit(starts_at_ms + after_ms);
    expect((await drop('gpus')).admitted_through).toBe(2);
    const first = await tickets('gpus');
    const admitted = customers.filter((customer) => first.get(customer)?.status === 'admitted');
    expect(admitted).toHaveLength(2);
    // Both admitted customers hold a unit for 5 s: nothing is available.
    for (const customer of admitted) {
      const token = first.get(customer)?.token ?? null;
      expect(codeOf(await checkout('gpu', customer, token, starts_at_ms + 2_000))).toBe('ok');
    }
    expect(await subject.store.getSku('gpu')).toMatchObject({ available: 0, on_hold: 2 });
    await subject.store.drops.admit(starts_at_ms + 3_000);
    await subject.store.drops.admit(starts_at_ms + 6_000);
    expect((await drop('gpus')).admitted_through).toBe(2);
    // Past the holds' deadline, until the sweeper returns them, the buckets still show them held.
    await subject.store.drops.admit(starts_at_ms + 7_500);
    expect((await drop('gpus')).admitted_through).toBe(2);
    expect(await subject.store.sweepExpired(starts_at_ms + 8_000, 100)).toBe(2);
    expect(await subject.store.getSku('gpu')).toMatchObject({ available: 2, on_hold: 0 });
    // The pause banked nothing: the next pass admits at the rate from the pause, not 6 s of it.
    await subject.store.drops.admit(starts_at_ms + 8_000);
    expect((await drop('gpus')).admitted_through).toBe(2);
    await subject.store.drops.admit(starts_at_ms + 9_000);
    expect((await drop('gpus')).admitted_through).toBe(3);
    await subject.store.drops.admit(starts_at_ms + 10_000);
    const after = await tickets('gpus');
    expect((await drop('gpus')).admitted_through).toBe(4);
    expect(customers.map((customer) => after.get(customer)?.status).sort()).toEqual([
      'admitted',
      'admitted',
      'used',
      'used',
      'waiting',
      'waiting',
    ]);
    // The customers whose holds expired used their admission: they are not admitted again.
    for (const customer of admitted) {
      expect(
        codeOf(await checkout('gpu', customer, first.get(customer)?.token ?? null, starts_at_ms + 10_000)),
      ).toBe('admission_required');
    }
    await expectConservation(subject.store);
  });

  it('banks nothing when an instance whose clock is behind sees the pause', async () => {
    // The rate is the drop's in total, its clock in the drop's row. The one unit is spoken for by the
    // first admission, so a pass of an instance whose clock runs 800 ms behind meets the pause; once
    // stock comes, the pass of the instance on time, 100 ms after its last, admits one at 10/s,
    // not the 800 ms the lagging clock put back.
    await newSku('watch', 1);
    const starts_at_ms = T0 + 60_000;
    await newDrop('skew', ['watch'], starts_at_ms, { admission_per_second: 10, admission_seconds: 600 });
    await joinMany(
      'skew',
      Array.from({ length: 40 }, (_, index) => `s${index}`),
      () => T0,
    );
    const [on_time, behind] = [stores[0] ?? subject.store, stores[1] ?? subject.store];
    await on_time.drops.admit(starts_at_ms);
    await on_time.drops.admit(starts_at_ms + 1_000);
    expect((await drop('skew')).admitted_through).toBe(1);
    const paused = await behind.drops.admit(starts_at_ms + 200);
    expect(paused.find((report) => report.drop_id === 'skew')?.admitted).toBe(0);
    await expectOk(
      { kind: 'adjust', sku: 'watch', delta: 10, reason: 'restock', expected_available: null },
      starts_at_ms + 1_000,
    );
    const reports = await on_time.drops.admit(starts_at_ms + 1_100);
    expect(reports.find((report) => report.drop_id === 'skew')?.admitted).toBe(1);
  });

  it("refuses a drop's admission on a checkout of another drop's SKU", async () => {
    await newSku('left', 5);
    await newSku('right', 5);
    const starts_at_ms = T0 + 60_000;
    await newDrop('drop-a', ['left'], starts_at_ms);
    await newDrop('drop-b', ['right'], starts_at_ms);
    for (const drop_id of ['drop-a', 'drop-b']) await subject.store.drops.join(drop_id, 'kim', T0);
    await subject.store.drops.admit(starts_at_ms);
    await subject.store.drops.admit(starts_at_ms + 1_000);
    const token_a = (await tickets('drop-a')).get('kim')?.token ?? null;
    const token_b = (await tickets('drop-b')).get('kim')?.token ?? null;
    expect((await tickets('drop-a')).get('kim')?.status).toBe('admitted');
    expect((await tickets('drop-b')).get('kim')?.status).toBe('admitted');
    // Another customer's admission to the right drop does not open it either.
    await subject.store.drops.join('drop-b', 'lee', starts_at_ms + 1_000);
    await subject.store.drops.admit(starts_at_ms + 2_000);
    expect((await tickets('drop-b')).get('lee')?.status).toBe('admitted');
    const now_ms = starts_at_ms + 2_000;
    expect(codeOf(await checkout('right', 'kim', token_a, now_ms))).toBe('admission_required');
    expect(codeOf(await checkout('left', 'kim', token_b, now_ms))).toBe('admission_required');
    expect(codeOf(await checkout('right', 'lee', token_b, now_ms))).toBe('admission_required');
    // Each admission opens its own drop, once; none was spent by the refusals.
    expect(codeOf(await checkout('right', 'kim', token_b, now_ms))).toBe('ok');
    expect(codeOf(await checkout('left', 'kim', token_a, now_ms))).toBe('ok');
    expect((await tickets('drop-a')).get('kim')?.status).toBe('used');
    expect((await tickets('drop-b')).get('kim')?.status).toBe('used');
    await expectConservation(subject.store);
  });
});
