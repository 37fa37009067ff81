// The SQL of drops (issue 24): tickets, the random pre-queue, admissions, and the reads the waiting
// page polls. The rules are the core's (src/core/drops.ts); this file only keeps the rows. The drop
// row is the lock of its queue: joining after the start, positioning the pre-queue and admitting all
// take it (FOR UPDATE where the database locks rows), so positions and admissions are handed out
// once whichever process does it; a join before the start takes it shared, so the positioning waits
// for every join already under way.
import { type Kysely, sql } from 'kysely';
import { dropsNeeded, ticketsNeeded } from '../core/commands.ts';
import {
  DROP_PHASE,
  type DropState,
  type DropStats,
  dropClosed,
  dropNotFound,
  dropPhase,
  planAdmission,
  TICKET_STATUS,
  TICKET_STATUSES,
  type TicketState,
  type TicketStatus,
} from '../core/drops.ts';
import { StockholdError } from '../core/errors.ts';
import type { Command, DomainEvent } from '../core/types.ts';
import type { Workspace } from '../core/workspace.ts';
import { newSecretId, randomDraw } from '../ids.ts';
import { chunks, IN_LIST_MAX } from './in-lists.ts';
import type { RepositoryAccess } from './repository-access.ts';
import {
  type Database,
  DROP_COLUMNS,
  DROP_TICKET_COLUMNS,
  type DropsTable,
  type DropTicketsTable,
  decodeRow,
} from './schema.ts';

type Tx = Kysely<Database>;

/** Writes events to the outbox the store's way (in commit order), inside the given transaction. */
export type EventWriter = (trx: Tx, events: readonly DomainEvent[]) => Promise<void>;

export function dropFromRow(row: DropsTable): DropState {
  const decoded = decodeRow(DROP_COLUMNS, row);
  return { ...decoded, skus: JSON.parse(decoded.skus) as string[], positioned: decoded.positioned === 1 };
}

export function dropRow(drop: DropState): DropsTable {
  return { ...drop, skus: JSON.stringify(drop.skus), positioned: drop.positioned ? 1 : 0 };
}

export function ticketFromRow(row: DropTicketsTable): TicketState {
  return { ...decodeRow(DROP_TICKET_COLUMNS, row), status: row.status as TicketStatus };
}

export function ticketRow(ticket: TicketState): DropTicketsTable {
  return { ...ticket };
}

/**
 * Loads, for a batch of commands, the drops its SKUs are in (and those it names), then the tickets
 * its checkouts read, locked where the database locks rows: a ticket is used once.
 */
export async function loadDrops(
  trx: Tx,
  workspace: Workspace,
  commands: readonly Command[],
  locks_rows: boolean,
): Promise<void> {
  const ids = new Set(dropsNeeded(commands));
  for (const sku of workspace.skus.values()) if (sku.drop_id) ids.add(sku.drop_id);
  const missing = [...ids].filter((id) => !workspace.drops.has(id)).sort();
  for (const chunk of chunks(missing, IN_LIST_MAX)) {
    const rows = await trx.selectFrom('drops').selectAll().where('id', 'in', chunk).execute();
    for (const row of rows) workspace.loadDrop(dropFromRow(row));
  }
  const by_drop = new Map<string, string[]>();
  for (const pair of ticketsNeeded(commands, workspace)) {
    by_drop.set(pair.drop_id, [...(by_drop.get(pair.drop_id) ?? []), pair.customer_id]);
  }
  for (const [drop_id, customers] of by_drop) {
    for (const chunk of chunks(customers, IN_LIST_MAX)) {
      let query = trx
        .selectFrom('drop_tickets')
        .selectAll()
        .where('drop_id', '=', drop_id)
        .where('customer_id', 'in', chunk)
        .orderBy('id');
      if (locks_rows) query = query.forUpdate();
      for (const row of await query.execute()) workspace.loadTicket(ticketFromRow(row));
    }
  }
}

/** A drop's ticket of a customer: created now, or found (asked again). */
export interface Joined {
  drop: DropState;
  ticket: TicketState;
  created: boolean;
}

/** What one admission pass did to one running drop. */
export interface AdmissionReport {
  drop_id: string;
  admitted: number;
  /** Waits from joining (or the start, for the pre-queue) to admission, of the tickets admitted now. */
  waits_ms: number[];
  expired: number;
  sold_out: boolean;
  /** Tickets waiting after the pass. */
  waiting: number;
}

/** A join waiting for the writer. */
interface PendingJoin {
  drop_id: string;
  customer_id: string;
  now_ms: number;
  resolve(joined: Joined): void;
  reject(error: unknown): void;
}

/** Joins one transaction takes at most. */
const JOIN_BATCH_MAX = 1000;
/** Tickets per INSERT statement: 12 columns each, within SQLite's bound on parameters. */
const TICKET_INSERT_ROWS_MAX = 500;

/** A new ticket: its draw for the pre-queue and its admission token are drawn now. */
function newTicket(
  drop_id: string,
  customer_id: string,
  now_ms: number,
  position: number | null,
): TicketState {
  return {
    id: newSecretId('tkt'),
    drop_id,
    customer_id,
    joined_at_ms: now_ms,
    draw: randomDraw(),
    position,
    status: TICKET_STATUS.waiting,
    admission_token: newSecretId('adm'),
    admitted_at_ms: null,
    admission_expires_at_ms: null,
    used_at_ms: null,
    order_id: null,
  };
}

/** How long a drop's row read for a ticket is reused: two admission passes. */
const DROP_READ_REUSE_MS = 200;
/** Drops kept for ticket reads: a store runs a few at once. */
const RECENT_DROPS_MAX = 100;

export class DropRepository {
  private readonly recent_drops = new Map<string, { drop: DropState; read_at: number }>();
  private readonly joins: PendingJoin[] = [];
  private joining = false;

  constructor(
    private readonly access: RepositoryAccess,
    private readonly writeEvents: EventWriter,
  ) {}

  /**
   * The customer's ticket of the drop, taken now if they have none. Joins arrive in bursts (the
   * minute before a drop): those waiting for the writer are taken together, one transaction and one
   * durable commit per batch, as the command queue does for checkouts.
   */
  async join(drop_id: string, customer_id: string, now_ms: number): Promise<Joined> {
    const found = await this.customerTicket(this.access.read_db, drop_id, customer_id);
    if (found) return { ...found, created: false };
    return new Promise<Joined>((resolve, reject) => {
      this.joins.push({ drop_id, customer_id, now_ms, resolve, reject });
      if (!this.joining) {
        this.joining = true;
        setImmediate(() => void this.takeJoins());
      }
    });
  }

  /** Runs the waiting joins, a batch at a time, until none waits. */
  private async takeJoins(): Promise<void> {
    while (this.joins.length > 0) {
      const batch = this.joins.splice(0, JOIN_BATCH_MAX);
      try {
        const outcomes = await this.access.transaction((trx) => this.joinBatch(trx, batch));
        for (const join of batch) this.recent_drops.delete(join.drop_id);
        outcomes.forEach((outcome, index) => {
          const join = batch[index];
          if (!join) return;
          if (outcome instanceof StockholdError) join.reject(outcome);
          else join.resolve(outcome);
        });
      } catch (error) {
        for (const join of batch) join.reject(error);
      }
    }
    this.joining = false;
  }

  /** One transaction's joins, drop by drop (in id order: the lock order); an outcome each. */
  private async joinBatch(trx: Tx, batch: readonly PendingJoin[]): Promise<(Joined | StockholdError)[]> {
    const outcomes: (Joined | StockholdError)[] = batch.map(() => new StockholdError('internal_error', ''));
    const drop_ids = [...new Set(batch.map((join) => join.drop_id))].sort();
    for (const drop_id of drop_ids) {
      const indexes = batch.flatMap((join, index) => (join.drop_id === drop_id ? [index] : []));
      const joins = indexes.map((index) => batch[index] as PendingJoin);
      const results = await this.joinDrop(trx, drop_id, joins).catch((error: unknown) => {
        if (error instanceof StockholdError) return joins.map(() => error);
        throw error;
      });
      results.forEach((result, position) => {
        outcomes[indexes[position] ?? -1] = result;
      });
    }
    return outcomes;
  }

  /**
   * Joins of one drop. Before the start they only add tickets without positions: joins run side by
   * side (a shared lock) and the positioning waits for them. From the start each new ticket takes
   * the next position (the drop's row locked whole).
   */
  private async joinDrop(trx: Tx, drop_id: string, joins: readonly PendingJoin[]) {
    const now_ms = Math.max(...joins.map((join) => join.now_ms));
    // Unlocked first, to choose the lock: shared only while the line is still unpositioned, so joins
    // from a clock a little behind another process's start never upgrade a shared lock (two such
    // upgrades deadlock each other).
    const seen = await this.requireDrop(trx, drop_id, 'none');
    const starts_at_ms = seen.starts_at_ms;
    const shared = now_ms < starts_at_ms && !seen.positioned;
    let drop = await this.requireDrop(trx, drop_id, shared ? 'share' : 'update');
    const phase = dropPhase(drop, now_ms);
    const existing = new Map<string, TicketState>();
    for (const chunk of chunks([...new Set(joins.map((join) => join.customer_id))], IN_LIST_MAX)) {
      const rows = await trx
        .selectFrom('drop_tickets')
        .selectAll()
        .where('drop_id', '=', drop_id)
        .where('customer_id', 'in', chunk)
        .execute();
      for (const row of rows) existing.set(row.customer_id, ticketFromRow(row));
    }
    const created = new Set<string>();
    const positioned = drop.positioned || phase === DROP_PHASE.running;
    if (positioned && joins.some((join) => !existing.has(join.customer_id))) {
      // Positioned between the unlocked read and the lock: take the lock whole (rare; should two
      // such upgrades deadlock, the store retries the transaction, which then locks whole at once).
      if (shared) drop = await this.requireDrop(trx, drop_id, 'update');
      if (!drop.positioned) drop = await this.positionPreQueue(trx, drop);
    }
    const closed = phase === DROP_PHASE.sold_out || phase === DROP_PHASE.over;
    let next_position = drop.next_position;
    const fresh: TicketState[] = [];
    for (const join of joins) {
      if (existing.has(join.customer_id) || closed) continue;
      const ticket = newTicket(drop_id, join.customer_id, join.now_ms, positioned ? ++next_position : null);
      existing.set(join.customer_id, ticket);
      created.add(ticket.id);
      fresh.push(ticket);
    }
    for (const chunk of chunks(fresh, TICKET_INSERT_ROWS_MAX)) {
      await trx.insertInto('drop_tickets').values(chunk.map(ticketRow)).execute();
    }
    if (next_position !== drop.next_position) {
      await trx.updateTable('drops').set({ next_position }).where('id', '=', drop_id).execute();
      drop = { ...drop, next_position };
    }
    const answered = drop;
    return joins.map((join): Joined | StockholdError => {
      const ticket = existing.get(join.customer_id);
      if (!ticket) return dropClosed(answered, phase);
      // A customer asking twice in one batch: the first ask took the ticket, the second finds it.
      const first = created.delete(ticket.id);
      return { drop: answered, ticket, created: first };
    });
  }

  async getDrop(drop_id: string): Promise<DropState | null> {
    const row = await this.access.read_db
      .selectFrom('drops')
      .selectAll()
      .where('id', '=', drop_id)
      .executeTakeFirst();
    return row ? dropFromRow(row) : null;
  }

  /** The newest drops first. */
  async listDrops(limit: number): Promise<DropState[]> {
    const rows = await this.access.read_db
      .selectFrom('drops')
      .selectAll()
      .orderBy('created_at_ms', 'desc')
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(dropFromRow);
  }

  /**
   * A ticket with its drop: the waiting page polls it, so the ticket is one primary-key read and its
   * drop is read at most every DROP_READ_REUSE_MS per process. The ticket's own status is always
   * current; the drop's (its admitted_through, for the people ahead) may be that much older.
   */
  async getTicket(
    drop_id: string,
    ticket_id: string,
  ): Promise<{ drop: DropState; ticket: TicketState } | null> {
    const row = await this.access.read_db
      .selectFrom('drop_tickets')
      .selectAll()
      .where('id', '=', ticket_id)
      .executeTakeFirst();
    if (!row || row.drop_id !== drop_id) return null;
    const drop = await this.recentDrop(drop_id);
    return drop ? { drop, ticket: ticketFromRow(row) } : null;
  }

  private async recentDrop(drop_id: string): Promise<DropState | null> {
    const now = performance.now();
    const kept = this.recent_drops.get(drop_id);
    if (kept && now - kept.read_at < DROP_READ_REUSE_MS) return kept.drop;
    const drop = await this.getDrop(drop_id);
    if (this.recent_drops.size >= RECENT_DROPS_MAX) this.recent_drops.clear();
    if (drop) this.recent_drops.set(drop_id, { drop, read_at: now });
    return drop;
  }

  /** Counts by status (an admission past its lapse counts as expired), the pace and the wait. */
  async stats(drop: DropState, now_ms: number): Promise<DropStats> {
    const db = this.access.read_db;
    const { rows } = await sql<{ status: string; n: number | string }>`select status, count(*) as n
      from (select ${admissionLapsed(now_ms)} as status from drop_tickets where drop_id = ${drop.id}) as t
      group by status`.execute(db);
    const counts = { tickets: 0, waiting: 0, admitted: 0, used: 0, expired: 0, sold_out: 0 };
    for (const row of rows) {
      const status = String(row.status) as TicketStatus;
      if (!TICKET_STATUSES.includes(status)) continue;
      counts[status] += Number(row.n);
      counts.tickets += Number(row.n);
    }
    const recent = await db
      .selectFrom('drop_tickets')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('drop_id', '=', drop.id)
      .where('admitted_at_ms', '>', now_ms - 10_000)
      .executeTakeFirst();
    return {
      counts,
      admitted_last_10s: Number(recent?.n ?? 0),
      time_to_admission_ms: await this.admissionWaits(drop),
    };
  }

  /**
   * One admission pass over every running drop, each in its own transaction: lapsed admissions
   * expire, the pre-queue is positioned at the start, then the plan of the core (admit at the rate,
   * pause, or release the queue as sold out) is carried out.
   */
  async admit(now_ms: number): Promise<AdmissionReport[]> {
    const due = await this.access.db
      .selectFrom('drops')
      .select('id')
      .where('sold_out_at_ms', 'is', null)
      .where('starts_at_ms', '<=', now_ms)
      .where((eb) => eb.or([eb('ends_at_ms', 'is', null), eb('ends_at_ms', '>', now_ms)]))
      .orderBy('id')
      .execute();
    const reports: AdmissionReport[] = [];
    for (const { id } of due) {
      const report = await this.access.transaction((trx) => this.admitDrop(trx, id, now_ms));
      // This process reads its own admissions at once; another process's within DROP_READ_REUSE_MS.
      this.recent_drops.delete(id);
      if (report) reports.push(report);
    }
    return reports;
  }

  private async admitDrop(trx: Tx, drop_id: string, now_ms: number): Promise<AdmissionReport | null> {
    let drop = await this.requireDrop(trx, drop_id, 'update');
    if (dropPhase(drop, now_ms) !== DROP_PHASE.running) return null;
    if (!drop.positioned) drop = await this.positionPreQueue(trx, drop);
    const expired = await trx
      .updateTable('drop_tickets')
      .set({ status: TICKET_STATUS.expired })
      .where('drop_id', '=', drop.id)
      .where('status', '=', TICKET_STATUS.admitted)
      .where('admission_expires_at_ms', '<=', now_ms)
      .executeTakeFirst();
    const skus = await trx
      .selectFrom('skus')
      .select(['available', 'on_hold'])
      .where('sku', 'in', drop.skus)
      .execute();
    // The admissions still open (the lapsed ones were expired just above).
    const open_admissions = await trx
      .selectFrom('drop_tickets')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('drop_id', '=', drop.id)
      .where('status', '=', TICKET_STATUS.admitted)
      .executeTakeFirst();
    const plan = planAdmission(
      drop,
      skus.map((sku) => ({ available: Number(sku.available), on_hold: Number(sku.on_hold) })),
      now_ms,
      Number(open_admissions?.n ?? 0),
    );
    const report: AdmissionReport = {
      drop_id,
      admitted: 0,
      waits_ms: [],
      expired: Number(expired.numUpdatedRows),
      sold_out: false,
      waiting: 0,
    };
    if (plan.kind === 'sold_out') {
      await this.releaseAsSoldOut(trx, drop, now_ms);
      report.sold_out = true;
      return report;
    }
    let through = drop.admitted_through;
    if (plan.kind === 'admit' && plan.through > through) {
      report.waits_ms = await this.admitPositions(trx, drop, plan.through, now_ms);
      report.admitted = report.waits_ms.length;
      through = plan.through;
    }
    await trx
      .updateTable('drops')
      .set({ admitted_through: through, admission_clock_ms: plan.admission_clock_ms })
      .where('id', '=', drop.id)
      .execute();
    report.waiting = drop.next_position - through;
    return report;
  }

  /** Admits the waiting tickets at positions after admitted_through up to `through`; their waits. */
  private async admitPositions(trx: Tx, drop: DropState, through: number, now_ms: number): Promise<number[]> {
    const admitted = await trx
      .updateTable('drop_tickets')
      .set({
        status: TICKET_STATUS.admitted,
        admitted_at_ms: now_ms,
        admission_expires_at_ms: now_ms + drop.admission_seconds * 1000,
      })
      .where('drop_id', '=', drop.id)
      .where('status', '=', TICKET_STATUS.waiting)
      .where('position', '>', drop.admitted_through)
      .where('position', '<=', through)
      .returning('joined_at_ms')
      .execute();
    return admitted.map((row) => now_ms - Math.max(Number(row.joined_at_ms), drop.starts_at_ms));
  }

  /** Every waiting ticket is released at once, and drop.sold_out goes out. */
  private async releaseAsSoldOut(trx: Tx, drop: DropState, now_ms: number): Promise<void> {
    const released = await trx
      .updateTable('drop_tickets')
      .set({ status: TICKET_STATUS.sold_out })
      .where('drop_id', '=', drop.id)
      .where('status', '=', TICKET_STATUS.waiting)
      .executeTakeFirst();
    await trx
      .updateTable('drops')
      .set({ sold_out_at_ms: now_ms, admitted_through: drop.next_position })
      .where('id', '=', drop.id)
      .execute();
    await this.writeEvents(trx, [
      {
        type: 'drop.sold_out',
        subject_id: drop.id,
        at_ms: now_ms,
        data: { drop_id: drop.id, skus: drop.skus, released_tickets: Number(released.numUpdatedRows) },
      },
    ]);
  }

  /**
   * Gives the tickets taken before the start their positions, 1..N in the order of their random
   * draws (ties, which are rare, by id), in one statement.
   */
  private async positionPreQueue(trx: Tx, drop: DropState): Promise<DropState> {
    await sql`update drop_tickets set position = ranked.position
      from (select id, row_number() over (order by draw, id) as position
            from drop_tickets where drop_id = ${drop.id} and position is null) as ranked
      where drop_tickets.id = ranked.id`.execute(trx);
    const counted = await trx
      .selectFrom('drop_tickets')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('drop_id', '=', drop.id)
      .executeTakeFirst();
    const next_position = Number(counted?.n ?? 0);
    await trx.updateTable('drops').set({ positioned: 1, next_position }).where('id', '=', drop.id).execute();
    return { ...drop, positioned: true, next_position };
  }

  /** p50 and p99 of the wait from joining (or the start, for the pre-queue) to admission. */
  private async admissionWaits(drop: DropState): Promise<DropStats['time_to_admission_ms']> {
    const db = this.access.read_db;
    const wait = sql<number>`admitted_at_ms - case when joined_at_ms > ${drop.starts_at_ms}
      then joined_at_ms else ${drop.starts_at_ms} end`;
    const counted = await db
      .selectFrom('drop_tickets')
      .select((eb) => eb.fn.countAll<number | string>().as('n'))
      .where('drop_id', '=', drop.id)
      .where('admitted_at_ms', 'is not', null)
      .executeTakeFirst();
    const admitted = Number(counted?.n ?? 0);
    if (admitted === 0) return { p50: null, p99: null };
    const at = async (quantile: number) => {
      const row = await db
        .selectFrom('drop_tickets')
        .select(wait.as('wait'))
        .where('drop_id', '=', drop.id)
        .where('admitted_at_ms', 'is not', null)
        .orderBy(wait)
        .limit(1)
        .offset(Math.min(admitted - 1, Math.floor(quantile * admitted)))
        .executeTakeFirst();
      return row ? Number(row.wait) : null;
    };
    return { p50: await at(0.5), p99: await at(0.99) };
  }

  private async customerTicket(
    db: Tx,
    drop_id: string,
    customer_id: string,
  ): Promise<{ drop: DropState; ticket: TicketState } | null> {
    const row = await db
      .selectFrom('drop_tickets')
      .selectAll()
      .where('drop_id', '=', drop_id)
      .where('customer_id', '=', customer_id)
      .executeTakeFirst();
    if (!row) return null;
    return { drop: await this.requireDrop(db, drop_id, 'none'), ticket: ticketFromRow(row) };
  }

  private async requireDrop(db: Tx, drop_id: string, lock: 'none' | 'share' | 'update'): Promise<DropState> {
    let query = db.selectFrom('drops').selectAll().where('id', '=', drop_id);
    if (this.access.locks_rows && lock === 'share') query = query.forShare();
    if (this.access.locks_rows && lock === 'update') query = query.forUpdate();
    const row = await query.executeTakeFirst();
    if (!row) throw dropNotFound(drop_id);
    return dropFromRow(row);
  }
}

/**
 * A ticket's status as the core's ticketStatus reads it: an admission past its lapse is expired
 * (the admitter writes it so on its next pass).
 */
function admissionLapsed(now_ms: number) {
  return sql<string>`case when status = ${TICKET_STATUS.admitted} and admission_expires_at_ms <= ${now_ms}
    then ${TICKET_STATUS.expired} else status end`;
}
