// The deep half of `stockhold verify`: walks every SKU's ledger as a chain and checks every order
// against its holds and its movements (stock moved exactly once). Reads in bounded pages.
import type { Kysely } from 'kysely';
import { auditOrder, type Buckets, LedgerChainCheck, type OrderAuditInput } from '../core/audit.ts';
import { STOCK_CHANGING_KINDS } from '../core/types.ts';
import type { Database, LedgerTable, OrdersTable } from './schema.ts';
import type { Store } from './store.ts';

/** Rows read per page: bounded memory whatever the size of the database. */
const LEDGER_PAGE_ROWS = 5000;
const ORDER_PAGE_ROWS = 500;
/** A report that lists a million problems helps nobody: the count is kept, the text stops here. */
const PROBLEMS_LISTED_MAX = 1000;

export interface DeepAuditReport {
  ledger_rows_walked: number;
  orders_walked: number;
  problems: string[];
  problems_total: number;
}

export async function deepAudit(db: Kysely<Database>): Promise<DeepAuditReport> {
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
  await walkLedger(db, report, note);
  await walkOrders(db, report, note);
  return report;
}

async function walkLedger(db: Kysely<Database>, report: DeepAuditReport, note: (p: string[]) => void) {
  const skus = new Map(
    (await db.selectFrom('skus').select(['sku', 'available', 'on_hold', 'sold', 'version']).execute()).map(
      (row) => [row.sku, row],
    ),
  );
  const finished = new Set<string>();
  let check = null as LedgerChainCheck | null;
  const finish = () => {
    if (!check) return;
    const row = skus.get(check.sku);
    if (row) {
      note(
        check.finish({
          available: Number(row.available),
          on_hold: Number(row.on_hold),
          sold: Number(row.sold),
          version: Number(row.version),
        }),
      );
    } else {
      note([...check.problems, `${check.sku}: the ledger names a sku that does not exist`]);
    }
    finished.add(check.sku);
  };
  let after: { sku: string; seq: number } | null = null;
  for (;;) {
    const cursor: { sku: string; seq: number } | null = after;
    const rows: LedgerTable[] = await db
      .selectFrom('ledger')
      .selectAll()
      .$if(cursor !== null, (q) =>
        q.where((eb) =>
          eb.or([
            eb('sku', '>', cursor!.sku),
            eb.and([eb('sku', '=', cursor!.sku), eb('seq', '>', cursor!.seq)]),
          ]),
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
    if (rows.length < LEDGER_PAGE_ROWS) break;
    const last = rows[rows.length - 1]!;
    after = { sku: last.sku, seq: Number(last.seq) };
  }
  finish();
  for (const [sku, row] of skus) {
    if (!finished.has(sku)) note(new LedgerChainCheck(sku).finish({ ...row, version: Number(row.version) }));
  }
}

async function walkOrders(db: Kysely<Database>, report: DeepAuditReport, note: (p: string[]) => void) {
  let after_id: string | null = null;
  for (;;) {
    const cursor: string | null = after_id;
    const orders: OrdersTable[] = await db
      .selectFrom('orders')
      .selectAll()
      .$if(cursor !== null, (q) => q.where('id', '>', cursor!))
      .orderBy('id')
      .limit(ORDER_PAGE_ROWS)
      .execute();
    if (orders.length === 0) break;
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
      });
    }
    const lines = await db
      .selectFrom('order_lines')
      .select(['order_id', 'sku', 'quantity'])
      .where('order_id', 'in', ids)
      .execute();
    for (const line of lines) {
      const quantities = inputs.get(line.order_id)!.quantities;
      quantities.set(line.sku, (quantities.get(line.sku) ?? 0) + Number(line.quantity));
    }
    const holds = await db.selectFrom('holds').selectAll().where('order_id', 'in', ids).execute();
    for (const hold of holds) {
      inputs.get(hold.order_id)!.holds.set(hold.sku, {
        quantity: Number(hold.quantity),
        expires_at_ms: Number(hold.expires_at_ms),
      });
    }
    const movements = await db
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
      const per_sku = inputs.get(m.order_id!)!.movements;
      const kinds = per_sku.get(m.sku) ?? new Map<string, { count: number } & Buckets>();
      kinds.set(m.kind, {
        count: Number(m.count),
        available: Number(m.available),
        on_hold: Number(m.on_hold),
        sold: Number(m.sold),
      });
      per_sku.set(m.sku, kinds);
    }
    for (const input of inputs.values()) note(auditOrder(input));
    report.orders_walked += orders.length;
    if (orders.length < ORDER_PAGE_ROWS) break;
    after_id = orders[orders.length - 1]!.id;
  }
  // Movements that name an order which does not exist: stock moved for nothing.
  const orphans = await db
    .selectFrom('ledger as l')
    .leftJoin('orders as o', 'o.id', 'l.order_id')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('l.order_id', 'is not', null)
    .where('o.id', 'is', null)
    .executeTakeFirstOrThrow();
  if (Number(orphans.n) > 0) note([`${orphans.n} ledger rows name an order that does not exist`]);
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

/** Everything `stockhold verify` checks: the store's bucket audit plus the deep walk above. */
export async function verifyStore(store: Store & { database: Kysely<Database> }): Promise<VerifyReport> {
  const audit = await store.audit();
  const deep = await deepAudit(store.database);
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
