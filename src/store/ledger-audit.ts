// `stockhold verify` and store.audit(): every read happens inside one read-only snapshot (a read
// transaction on SQLite, whose WAL gives a reader its own snapshot; REPEATABLE READ READ ONLY on
// PostgreSQL), so checkouts committing meanwhile are never seen half-done as false problems. No table
// is locked, and every read is a bounded page (SKUs in key ranges, ledger rows, orders), so a live
// server's checkouts are not held up and memory stays bounded whatever the size of the database.
import { type Kysely, sql } from 'kysely';
import {
  type AuditReport,
  auditOrder,
  auditSku,
  type Buckets,
  LedgerChainCheck,
  type OrderAuditInput,
  type SkuTotals,
} from '../core/audit.ts';
import { assert } from '../core/errors.ts';
import { ORDER_STATUS, STOCK_CHANGING_KINDS } from '../core/types.ts';
import type { Database, LedgerTable, OrdersTable, SkusTable } from './schema.ts';

/** Rows read per page: bounded memory whatever the size of the database. */
const SKU_PAGE_ROWS = 500;
const LEDGER_PAGE_ROWS = 5000;
const ORDER_PAGE_ROWS = 500;
/** A report that lists a million problems helps nobody: the count is kept, the text stops here. */
const PROBLEMS_LISTED_MAX = 1000;

/** A connection inside a read-only snapshot transaction. */
type Snapshot = Kysely<Database>;

/**
 * Runs `work` in one read-only snapshot of `db`. SQLite ignores the isolation level and access mode:
 * its deferred BEGIN in WAL mode reads one snapshot from the first statement to the end, beside the
 * writer and without blocking it.
 */
export function inSnapshot<T>(db: Kysely<Database>, work: (snapshot: Snapshot) => Promise<T>): Promise<T> {
  return db.transaction().setIsolationLevel('repeatable read').setAccessMode('read only').execute(work);
}

/**
 * One page of SKUs and the key range it covers: above `after` (null: from the first) up to `last`
 * inclusive (null on the last page: to the end, so rows naming a SKU past the last one are seen).
 * Rows of other tables are matched to a page by range, in the database's own collation.
 */
interface SkuPage {
  rows: SkusTable[];
  after: string | null;
  last: string | null;
}

async function forEachSkuPage(snapshot: Snapshot, visit: (page: SkuPage) => Promise<void>): Promise<void> {
  let after: string | null = null;
  // Each page starts strictly after the previous one's last SKU: the loop ends with the table.
  for (;;) {
    const from: string | null = after;
    const rows: SkusTable[] = await snapshot
      .selectFrom('skus')
      .selectAll()
      .$call((q) => (from === null ? q : q.where('sku', '>', from)))
      .orderBy('sku')
      .limit(SKU_PAGE_ROWS)
      .execute();
    // A full page may have more after it; a short one is the last.
    const last: string | null = rows.length < SKU_PAGE_ROWS ? null : (rows.at(-1)?.sku ?? null);
    await visit({ rows, after: from, last });
    if (last === null) return;
    after = last;
  }
}

/** The bucket audit: recomputes every SKU from the ledger, the hold rows and the orders. */
export async function auditBuckets(snapshot: Snapshot): Promise<AuditReport> {
  const problems: string[] = [];
  let skus_checked = 0;
  let ledger_entries_checked = 0;
  await forEachSkuPage(snapshot, async (page) => {
    ledger_entries_checked += await auditSkuPage(snapshot, page, problems);
    skus_checked += page.rows.length;
  });

  const stray_holds = await snapshot
    .selectFrom('holds as h')
    .leftJoin('orders as o', 'o.id', 'h.order_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.or([eb('o.status', 'is', null), eb('o.status', '<>', ORDER_STATUS.pending_payment)]))
    .executeTakeFirstOrThrow();
  if (Number(stray_holds.n) > 0)
    problems.push(`${stray_holds.n} hold rows belong to orders that are not pending`);
  const unheld = await snapshot
    .selectFrom('orders as o')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('o.status', '=', ORDER_STATUS.pending_payment)
    .where((eb) =>
      eb.not(eb.exists(eb.selectFrom('holds as h').select('h.order_id').whereRef('h.order_id', '=', 'o.id'))),
    )
    .executeTakeFirstOrThrow();
  if (Number(unheld.n) > 0) problems.push(`${unheld.n} pending orders hold nothing`);
  const orders = await snapshot
    .selectFrom('orders')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .executeTakeFirstOrThrow();
  return { skus_checked, orders_checked: Number(orders.n), ledger_entries_checked, problems };
}

/** The ledger, hold and order-line sums of one page's SKU range, per SKU. */
async function pageSums(snapshot: Snapshot, page: SkuPage) {
  const { after, last } = page;
  const stock_changing = [...STOCK_CHANGING_KINDS];
  const ledger = await snapshot
    .selectFrom('ledger')
    .select((eb) => [
      'sku',
      sql<number>`sum(delta_available)`.as('available'),
      sql<number>`sum(delta_on_hold)`.as('on_hold'),
      sql<number>`sum(delta_sold)`.as('sold'),
      eb.fn
        .sum<number>(
          eb
            .case()
            .when('kind', 'in', stock_changing)
            .then(sql<number>`delta_available + delta_on_hold + delta_sold`)
            .else(0)
            .end(),
        )
        .as('stock_changes'),
      eb.fn.countAll<number>().as('entries'),
      eb.fn.max('seq').as('max_seq'),
    ])
    .$call((q) => (after === null ? q : q.where('sku', '>', after)))
    .$call((q) => (last === null ? q : q.where('sku', '<=', last)))
    .groupBy('sku')
    .execute();
  const holds = await snapshot
    .selectFrom('holds')
    .select(['sku', sql<number>`sum(quantity)`.as('quantity')])
    .$call((q) => (after === null ? q : q.where('sku', '>', after)))
    .$call((q) => (last === null ? q : q.where('sku', '<=', last)))
    .groupBy('sku')
    .execute();
  const by_status = await snapshot
    .selectFrom('order_lines as l')
    .innerJoin('orders as o', 'o.id', 'l.order_id')
    .select(['l.sku', 'o.status', sql<number>`sum(l.quantity)`.as('quantity')])
    .where('o.status', '=', ORDER_STATUS.pending_payment)
    .$call((q) => (after === null ? q : q.where('l.sku', '>', after)))
    .$call((q) => (last === null ? q : q.where('l.sku', '<=', last)))
    .groupBy(['l.sku', 'o.status'])
    .execute();
  // What paid orders sold (a partial capture sells part of the lines), less what came back.
  const sold = await snapshot
    .selectFrom('order_sold_lines as s')
    .innerJoin('orders as o', 'o.id', 's.order_id')
    .select(['s.sku', sql<number>`sum(s.quantity)`.as('quantity')])
    .where('o.status', '=', ORDER_STATUS.paid)
    .$call((q) => (after === null ? q : q.where('s.sku', '>', after)))
    .$call((q) => (last === null ? q : q.where('s.sku', '<=', last)))
    .groupBy('s.sku')
    .execute();
  const returned = await snapshot
    .selectFrom('order_returns')
    .select(['sku', sql<number>`sum(quantity)`.as('quantity')])
    .$call((q) => (after === null ? q : q.where('sku', '>', after)))
    .$call((q) => (last === null ? q : q.where('sku', '<=', last)))
    .groupBy('sku')
    .execute();
  return { ledger, holds, by_status, sold, returned };
}

/** Audits one page of SKUs; returns how many ledger entries its range holds. */
async function auditSkuPage(snapshot: Snapshot, page: SkuPage, problems: string[]): Promise<number> {
  const { ledger, holds, by_status, sold, returned } = await pageSums(snapshot, page);
  const totals = new Map<string, SkuTotals>();
  for (const row of page.rows) {
    totals.set(row.sku, {
      sku: row.sku,
      available: Number(row.available),
      on_hold: Number(row.on_hold),
      sold: Number(row.sold),
      version: Number(row.version),
      ledger_available: 0,
      ledger_on_hold: 0,
      ledger_sold: 0,
      ledger_stock_changes: 0,
      ledger_entries: 0,
      ledger_max_seq: 0,
      holds: 0,
      pending_quantity: 0,
      paid_quantity: 0,
    });
  }
  const totalsOf = (sku: string, source: string): SkuTotals | undefined => {
    const found = totals.get(sku);
    if (!found) problems.push(`${sku}: ${source} names a sku that does not exist`);
    return found;
  };
  let ledger_entries = 0;
  for (const row of ledger) {
    const t = totalsOf(row.sku, 'the ledger');
    ledger_entries += Number(row.entries);
    if (!t) continue;
    t.ledger_available = Number(row.available);
    t.ledger_on_hold = Number(row.on_hold);
    t.ledger_sold = Number(row.sold);
    t.ledger_stock_changes = Number(row.stock_changes);
    t.ledger_entries = Number(row.entries);
    t.ledger_max_seq = Number(row.max_seq);
  }
  for (const row of holds) {
    const t = totalsOf(row.sku, 'a hold');
    if (t) t.holds = Number(row.quantity);
  }
  for (const row of by_status) {
    const t = totalsOf(row.sku, 'an order line');
    if (t) t.pending_quantity = Number(row.quantity);
  }
  for (const row of sold) {
    const t = totalsOf(row.sku, 'a sold line');
    if (t) t.paid_quantity += Number(row.quantity);
  }
  for (const row of returned) {
    const t = totalsOf(row.sku, 'a return');
    if (t) t.paid_quantity -= Number(row.quantity);
  }
  for (const t of totals.values()) problems.push(...auditSku(t));
  return ledger_entries;
}

export interface DeepAuditReport {
  ledger_rows_walked: number;
  orders_walked: number;
  problems: string[];
  problems_total: number;
}

/** The deep walk: every SKU's ledger as a chain, and every order against its holds and movements. */
export async function deepAudit(snapshot: Snapshot): Promise<DeepAuditReport> {
  const report: DeepAuditReport = {
    ledger_rows_walked: 0,
    orders_walked: 0,
    problems: [],
    problems_total: 0,
  };
  const note = (problems: string[]) => {
    report.problems_total += problems.length;
    for (const problem of problems) {
      if (report.problems.length < PROBLEMS_LISTED_MAX) report.problems.push(problem);
    }
  };
  await forEachSkuPage(snapshot, (page) => walkLedger(snapshot, page, report, note));
  await walkOrders(snapshot, report, note);
  return report;
}

/** Walks the ledger rows of one page's SKU range, in (sku, seq) order, one chain per SKU. */
async function walkLedger(
  snapshot: Snapshot,
  page: SkuPage,
  report: DeepAuditReport,
  note: (p: string[]) => void,
) {
  const skus = new Map(page.rows.map((row) => [row.sku, row]));
  const finished = new Set<string>();
  let check = null as LedgerChainCheck | null;
  const finish = () => {
    if (!check) return;
    const row = skus.get(check.sku);
    if (row) {
      note(check.finish(chainEndOf(row)));
    } else {
      note([...check.problems, `${check.sku}: the ledger names a sku that does not exist`]);
    }
    finished.add(check.sku);
  };
  const { after, last } = page;
  let cursor: { sku: string; seq: number } | null = null;
  // Each page starts strictly after the previous one's last (sku, seq): the loop ends with the range.
  for (;;) {
    const from: { sku: string; seq: number } | null = cursor;
    const rows: LedgerTable[] = await snapshot
      .selectFrom('ledger')
      .selectAll()
      .$call((q) => (after === null ? q : q.where('sku', '>', after)))
      .$call((q) => (last === null ? q : q.where('sku', '<=', last)))
      .$call((q) =>
        from === null
          ? q
          : q.where((eb) =>
              eb.or([eb('sku', '>', from.sku), eb.and([eb('sku', '=', from.sku), eb('seq', '>', from.seq)])]),
            ),
      )
      .orderBy('sku')
      .orderBy('seq')
      .limit(LEDGER_PAGE_ROWS)
      .execute();
    for (const raw of rows) {
      const row = {
        sku: raw.sku,
        seq: Number(raw.seq),
        kind: raw.kind,
        order_id: raw.order_id,
        delta_available: Number(raw.delta_available),
        delta_on_hold: Number(raw.delta_on_hold),
        delta_sold: Number(raw.delta_sold),
        available_after: Number(raw.available_after),
        on_hold_after: Number(raw.on_hold_after),
        sold_after: Number(raw.sold_after),
      };
      if (check?.sku !== row.sku) {
        finish();
        check = new LedgerChainCheck(row.sku);
      }
      check.add(row, STOCK_CHANGING_KINDS);
      report.ledger_rows_walked += 1;
    }
    const last_row = rows.at(-1);
    if (rows.length < LEDGER_PAGE_ROWS || last_row === undefined) break;
    cursor = { sku: last_row.sku, seq: Number(last_row.seq) };
  }
  finish();
  for (const [sku, row] of skus) {
    if (finished.has(sku)) continue;
    note(new LedgerChainCheck(sku).finish(chainEndOf(row)));
  }
}

/** Where a SKU's ledger chain must end: its row's buckets and version. */
function chainEndOf(row: SkusTable): Buckets & { version: number } {
  return {
    available: Number(row.available),
    on_hold: Number(row.on_hold),
    sold: Number(row.sold),
    version: Number(row.version),
  };
}

/** Walks every order, a page at a time, against its lines, holds and movements; then the orphan movements. */
async function walkOrders(snapshot: Snapshot, report: DeepAuditReport, note: (p: string[]) => void) {
  let after_id: string | null = null;
  for (;;) {
    const cursor: string | null = after_id;
    const orders: OrdersTable[] = await snapshot
      .selectFrom('orders')
      .selectAll()
      .$call((q) => (cursor === null ? q : q.where('id', '>', cursor)))
      .orderBy('id')
      .limit(ORDER_PAGE_ROWS)
      .execute();
    if (orders.length === 0) break;
    for (const input of await orderAuditInputs(snapshot, orders)) note(auditOrder(input));
    report.orders_walked += orders.length;
    const last_order = orders.at(-1);
    if (orders.length < ORDER_PAGE_ROWS || last_order === undefined) break;
    after_id = last_order.id;
  }
  // Movements that name an order which does not exist: stock moved for nothing.
  const orphans = await snapshot
    .selectFrom('ledger as l')
    .leftJoin('orders as o', 'o.id', 'l.order_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('l.order_id', 'is not', null)
    .where('o.id', 'is', null)
    .executeTakeFirstOrThrow();
  if (Number(orphans.n) > 0) note([`${orphans.n} ledger rows name an order that does not exist`]);
}

/** What the audit of each order of a page needs: the order, its lines, its holds and its movements. */
async function orderAuditInputs(
  snapshot: Snapshot,
  orders: OrdersTable[],
): Promise<Iterable<OrderAuditInput>> {
  const ids = orders.map((order) => order.id);
  const inputs = new Map<string, OrderAuditInput>();
  for (const order of orders) {
    inputs.set(order.id, {
      id: order.id,
      status: order.status,
      late: Number(order.late) === 1,
      expires_at_ms: Number(order.expires_at_ms),
      paid_at_ms: order.paid_at_ms === null ? null : Number(order.paid_at_ms),
      payment_id: order.payment_id,
      closed_at_ms: order.closed_at_ms === null ? null : Number(order.closed_at_ms),
      quantities: new Map(),
      holds: new Map(),
      movements: new Map(),
      sold: new Map(),
      restocked: new Map(),
      written_off: new Map(),
    });
  }
  const inputOf = (order_id: string | null): OrderAuditInput => {
    const input = order_id === null ? undefined : inputs.get(order_id);
    assert(input !== undefined, `rows are read for the orders of the page only (got ${order_id})`);
    return input;
  };
  const lines = await snapshot
    .selectFrom('order_lines')
    .select(['order_id', 'sku', 'quantity'])
    .where('order_id', 'in', ids)
    .execute();
  for (const line of lines) {
    const quantities = inputOf(line.order_id).quantities;
    quantities.set(line.sku, (quantities.get(line.sku) ?? 0) + Number(line.quantity));
  }
  await readSoldAndReturned(snapshot, ids, inputOf);
  const holds = await snapshot.selectFrom('holds').selectAll().where('order_id', 'in', ids).execute();
  for (const hold of holds) {
    inputOf(hold.order_id).holds.set(hold.sku, {
      quantity: Number(hold.quantity),
      expires_at_ms: Number(hold.expires_at_ms),
    });
  }
  const movements = await snapshot
    .selectFrom('ledger')
    .select((eb) => [
      'order_id',
      'sku',
      'kind',
      eb.fn.countAll<number>().as('count'),
      eb.fn.sum<number>('delta_available').as('available'),
      eb.fn.sum<number>('delta_on_hold').as('on_hold'),
      eb.fn.sum<number>('delta_sold').as('sold'),
    ])
    .where('order_id', 'in', ids)
    .groupBy(['order_id', 'sku', 'kind'])
    .execute();
  for (const m of movements) {
    const per_sku = inputOf(m.order_id).movements;
    const kinds = per_sku.get(m.sku) ?? new Map<string, { count: number } & Buckets>();
    kinds.set(m.kind, {
      count: Number(m.count),
      available: Number(m.available),
      on_hold: Number(m.on_hold),
      sold: Number(m.sold),
    });
    per_sku.set(m.sku, kinds);
  }
  return inputs.values();
}

/** What the page's paid orders sold per SKU, and what their returns restocked or wrote off. */
async function readSoldAndReturned(
  snapshot: Snapshot,
  ids: readonly string[],
  inputOf: (order_id: string | null) => OrderAuditInput,
): Promise<void> {
  const sold = await snapshot
    .selectFrom('order_sold_lines')
    .selectAll()
    .where('order_id', 'in', ids)
    .execute();
  for (const row of sold) inputOf(row.order_id).sold.set(row.sku, Number(row.quantity));
  const returns = await snapshot
    .selectFrom('order_returns')
    .selectAll()
    .where('order_id', 'in', ids)
    .execute();
  for (const row of returns) {
    const input = inputOf(row.order_id);
    const into = Number(row.restock) === 1 ? input.restocked : input.written_off;
    into.set(row.sku, (into.get(row.sku) ?? 0) + Number(row.quantity));
  }
}

export interface VerifyReport {
  ok: boolean;
  skus_checked: number;
  orders_checked: number;
  ledger_entries_checked: number;
  ledger_rows_walked: number;
  orders_walked: number;
  problems: string[];
  problems_total: number;
}

/** Everything `stockhold verify` checks, the bucket audit and the deep walk, in one snapshot. */
export async function verifyStore(read_db: Kysely<Database>): Promise<VerifyReport> {
  const { audit, deep } = await inSnapshot(read_db, async (snapshot) => ({
    audit: await auditBuckets(snapshot),
    deep: await deepAudit(snapshot),
  }));
  const problems = [...audit.problems, ...deep.problems];
  return {
    ok: problems.length === 0,
    skus_checked: audit.skus_checked,
    orders_checked: audit.orders_checked,
    ledger_entries_checked: audit.ledger_entries_checked,
    ledger_rows_walked: deep.ledger_rows_walked,
    orders_walked: deep.orders_walked,
    problems,
    problems_total: audit.problems.length + deep.problems_total,
  };
}
