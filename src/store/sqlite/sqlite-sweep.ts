// The sweeper's batch on SQLite, as a few set-based statements: the due orders, what each returns
// to each SKU, the ledger, the events, the SKUs, the orders and the holds, all inside SQLite.
//
// It writes exactly what Workspace.expire writes for the same orders, taken in deadline order
// (test/store/sweep-equivalence.test.ts holds the two together). Loading every order into
// JavaScript, deciding there and binding every value back took 26.5 s for 1,000,000 expired holds;
// this takes 16 s on the same machine (README, Performance).
//
// Why the order view is still rendered here in SQL, and not by orderView (src/core/views.ts), the one
// source of it (issue 20): measured in CPU seconds for 200,000 expired holds in batches of 5,000 on
// this 2-core machine, this batch took 4.2-4.5 s; the store's own path through the Workspace
// (KyselyStore.expireDueOrders, as on PostgreSQL) 6.7-6.9 s; and building only the events with the
// core (reading the batch's orders, lines and SKUs, Workspace.expire, one outbox insert from JSON),
// the stock moves left here, 5.7-5.9 s: a third more, far past the 10% that bought. So the SQL stays,
// and test/store/sweep-equivalence.test.ts keeps it equal to the core, payload key order included.
import { type Kysely, sql } from 'kysely';
import { MOVEMENT_KIND, ORDER_STATUS } from '../../core/types.ts';
import { pastDeadline } from '../deadline-sql.ts';
import type { SetBasedSweep } from '../dialect.ts';
import type { Database } from '../schema.ts';

const PENDING = sql.lit(ORDER_STATUS.pending_payment);
const EXPIRED = sql.lit(ORDER_STATUS.expired);

/** A time in ms as JavaScript's toISOString() writes it, in integer arithmetic (no float rounding). */
function iso(ms: ReturnType<typeof sql.ref>) {
  return sql`strftime('%Y-%m-%dT%H:%M:%S', ${ms} / 1000, 'unixepoch') || printf('.%03dZ', ${ms} % 1000)`;
}

/**
 * Expires up to `limit` pending orders whose deadline is `now_ms` or earlier, oldest deadline
 * first, inside the caller's write transaction; returns how many, and the SKUs it changed.
 */
export async function sweepExpiredSqlite(
  trx: Kysely<Database>,
  now_ms: number,
  limit: number,
): Promise<SetBasedSweep> {
  // Temporary tables of the writer's connection, invisible to others; emptied at every batch. The
  // order of insertion (the rowid `pos`) is the order the orders are taken in.
  await sql`create temp table if not exists sweep_due (
      pos integer primary key, id text not null, customer_id text not null,
      created_at_ms integer not null, expires_at_ms integer not null,
      extensions integer not null)`.execute(trx);
  // One row per order and SKU: the quantity the order returns to it (its lines summed, as
  // quantitiesBySku does), in the order the SKU first appears among its lines, and the running
  // total returned to that SKU by this batch up to and including this order.
  await sql`create temp table if not exists sweep_release (
      pos integer not null, sku text not null, order_id text not null, quantity integer not null,
      first_line integer not null, returned integer not null, moves integer not null,
      primary key (pos, sku)) without rowid`.execute(trx);
  await sql`delete from temp.sweep_due`.execute(trx);
  await sql`delete from temp.sweep_release`.execute(trx);

  // Without statistics SQLite's planner reads every pending order through orders_by_status and
  // sorts them: the partial index gives the due ones in deadline order directly.
  const due = await sql`insert into temp.sweep_due (id, customer_id, created_at_ms, expires_at_ms, extensions)
    select id, customer_id, created_at_ms, expires_at_ms, extensions
    from orders indexed by orders_pending_by_deadline
    where status = ${PENDING} and ${pastDeadline('expires_at_ms', now_ms)}
    order by expires_at_ms limit ${limit}`.execute(trx);
  const count = Number(due.numAffectedRows ?? 0);
  if (count === 0) return { expired_orders: 0, skus_changed: [] };

  await sql`insert into temp.sweep_release
    select d.pos, l.sku, d.id, sum(l.quantity), min(l.line_no),
      sum(sum(l.quantity)) over by_sku, row_number() over by_sku
    from temp.sweep_due d join order_lines l on l.order_id = d.id
    group by d.pos, l.sku
    window by_sku as (partition by l.sku order by d.pos)`.execute(trx);

  // Each SKU's row as it was before this batch, plus what this batch returned to it so far.
  await sql`insert into ledger (sku, seq, at_ms, kind, order_id, delta_available, delta_on_hold,
      delta_sold, available_after, on_hold_after, sold_after, reason)
    select r.sku, k.version + r.moves, ${now_ms}, ${sql.lit(MOVEMENT_KIND.expiry_release)}, r.order_id,
      r.quantity, -r.quantity, 0, k.available + r.returned, k.on_hold - r.returned, k.sold, null
    from temp.sweep_release r join skus k on k.sku = r.sku
    order by r.pos, r.first_line`.execute(trx);

  // order.expired, with the payload Workspace.emitOrder builds: the order's view and its SKUs after it.
  // orderView (src/core/views.ts) is the source of that view; this is its rendering for a pending
  // order that expires (no paid_at, payment_id or late), kept in SQL so the batch binds no value per
  // order. test/store/sweep-equivalence.test.ts compares the payloads, key order included.
  await sql`insert into outbox (type, subject_id, payload, created_at_ms)
    select 'order.expired', d.id, json_object(
      'order', json_object(
        'id', d.id,
        'customer_id', d.customer_id,
        'status', ${EXPIRED},
        'lines', json((select json_group_array(json_object('sku', l.sku, 'quantity', l.quantity) order by l.line_no)
          from order_lines l where l.order_id = d.id)),
        'created_at', ${iso(sql.ref('d.created_at_ms'))},
        'expires_at', ${iso(sql.ref('d.expires_at_ms'))},
        'extensions', d.extensions,
        'returns', json('[]')),
      'skus', json((select json_group_array(json_object('sku', r.sku, 'available', k.available + r.returned,
          'on_hold', k.on_hold - r.returned, 'sold', k.sold) order by r.first_line)
        from temp.sweep_release r join skus k on k.sku = r.sku where r.pos = d.pos))),
      ${now_ms}
    from temp.sweep_due d order by d.pos`.execute(trx);

  await insertBackInStock(trx, now_ms);

  // The SKUs it changed: the store's SKU cache forgets them once this commits.
  const changed = await sql<{ sku: string }>`update skus set available = available + t.quantity,
      on_hold = on_hold - t.quantity, version = version + t.moves, updated_at_ms = ${now_ms}
    from (select sku, sum(quantity) as quantity, count(*) as moves from temp.sweep_release group by sku) as t
    where skus.sku = t.sku returning sku`.execute(trx);
  await sql`update orders set status = ${EXPIRED}, closed_at_ms = ${now_ms}
    where id in (select id from temp.sweep_due)`.execute(trx);
  await sql`delete from holds where order_id in (select id from temp.sweep_due)`.execute(trx);
  return { expired_orders: count, skus_changed: changed.rows.map((row) => row.sku) };
}

/**
 * sku.back_in_stock for each SKU the batch returns units to while it has none available, after the
 * batch's order.expired events, in the order the batch first moved each SKU: what the Workspace's
 * stock events write for the same batch (an expiry only raises available, so it crosses no other
 * way). The payload is skuView's (src/core/views.ts) after the batch, keys in its order.
 */
async function insertBackInStock(trx: Kysely<Database>, now_ms: number): Promise<void> {
  const updated_at = new Date(now_ms).toISOString();
  await sql`insert into outbox (type, subject_id, payload, created_at_ms)
    select 'sku.back_in_stock', k.sku, json_object(
      'sku', json_object(
        'sku', k.sku,
        'name', k.name,
        'available', k.available + t.quantity,
        'on_hold', k.on_hold - t.quantity,
        'sold', k.sold,
        'max_per_customer', k.max_per_customer,
        'low_stock_threshold', k.low_stock_threshold,
        'archived', json(case when k.archived = 1 then 'true' else 'false' end),
        'version', k.version + t.moves,
        'updated_at', ${updated_at}),
      'available_before', 0), ${now_ms}
    from (select sku, sum(quantity) as quantity, count(*) as moves, min(pos * 1000 + first_line) as first_move
      from temp.sweep_release group by sku) as t
    join skus k on k.sku = t.sku
    where k.available = 0
    order by t.first_move`.execute(trx);
}
