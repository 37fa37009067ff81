// The SQL of webhooks, in one place: endpoints, the fan-out of outbox events into deliveries, the
// claim of due deliveries (FOR UPDATE SKIP LOCKED where the database locks rows, so any number of
// workers can run) and the fenced record of each attempt. Built by the store on its own connections
// and transactions (store.webhooks); the delivery logic lives in src/webhooks.
import type { ExpressionBuilder, Kysely } from 'kysely';
import type { EventType } from '../core/types.ts';
import { newId } from '../ids.ts';
import type { RepositoryAccess } from './repository-access.ts';
import type { Database, WebhookDeliveriesTable, WebhookEndpointsTable } from './schema.ts';

export const DELIVERY_STATUS = {
  /** Waiting for its next attempt (or for an earlier event of the same order). */
  pending: 'pending',
  /** Claimed by a worker until `claimed_until_ms`; after that another worker may take it over. */
  sending: 'sending',
  succeeded: 'succeeded',
  /** Gave up after the last allowed attempt. */
  failed: 'failed',
  /** Its endpoint was deleted before it was delivered. */
  cancelled: 'cancelled',
} as const;
export type DeliveryStatus = (typeof DELIVERY_STATUS)[keyof typeof DELIVERY_STATUS];

type DeliveryRow = { d: Database['webhook_deliveries'] };

const OPEN_STATUSES = [DELIVERY_STATUS.pending, DELIVERY_STATUS.sending];
const CURSOR_NAME = 'webhooks';
/** Error texts kept per attempt: enough to diagnose, bounded. */
const ERROR_TEXT_MAX = 500;

export interface Endpoint {
  id: string;
  url: string;
  secret: string;
  event_types: EventType[] | null;
  active: boolean;
  created_at_ms: number;
}

export interface Delivery {
  id: string;
  endpoint_id: string;
  event_id: number;
  event_type: string;
  subject_id: string;
  status: DeliveryStatus;
  attempts: number;
  next_attempt_at_ms: number;
  last_error: string | null;
  created_at_ms: number;
  updated_at_ms: number;
}

export interface Attempt {
  attempt_no: number;
  at_ms: number;
  status_code: number | null;
  duration_ms: number;
  error: string | null;
}

/** A delivery claimed for one attempt, with what is needed to send it. */
export interface ClaimedDelivery extends Delivery {
  url: string;
  secret: string;
  /** The JSON body, exactly as signed. */
  body: string;
}

export type AttemptResult =
  | { ok: true; status_code: number; duration_ms: number }
  | { ok: false; status_code: number | null; duration_ms: number; error: string };

export class WebhookRepository {
  private readonly db: Kysely<Database>;

  constructor(private readonly access: RepositoryAccess) {
    this.db = access.db;
  }

  async createEndpoint(input: {
    url: string;
    secret: string;
    event_types: EventType[] | null;
    now_ms: number;
  }): Promise<Endpoint> {
    const row = {
      id: newId(),
      url: input.url,
      secret: input.secret,
      event_types: input.event_types === null ? null : JSON.stringify(input.event_types),
      active: 1,
      created_at_ms: input.now_ms,
      deleted_at_ms: null,
    };
    await this.access.transaction(async (trx) => {
      // The fan-out starts at the current end of the outbox: a new endpoint gets new events, not
      // the shop's history.
      await this.ensureCursor(trx);
      await trx.insertInto('webhook_endpoints').values(row).execute();
    });
    return endpointFromRow(row);
  }

  async countEndpoints(): Promise<number> {
    const row = await this.db
      .selectFrom('webhook_endpoints')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('deleted_at_ms', 'is', null)
      .executeTakeFirstOrThrow();
    return Number(row.n);
  }

  async listEndpoints(limit: number): Promise<Endpoint[]> {
    const rows = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('deleted_at_ms', 'is', null)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map(endpointFromRow);
  }

  async getEndpoint(id: string): Promise<Endpoint | null> {
    const row = await this.db
      .selectFrom('webhook_endpoints')
      .selectAll()
      .where('id', '=', id)
      .where('deleted_at_ms', 'is', null)
      .executeTakeFirst();
    return row ? endpointFromRow(row) : null;
  }

  /** Deactivates the endpoint and cancels what it has not received yet; false when unknown. */
  async deleteEndpoint(id: string, now_ms: number): Promise<boolean> {
    return this.access.transaction(async (trx) => {
      const result = await trx
        .updateTable('webhook_endpoints')
        .set({ active: 0, deleted_at_ms: now_ms })
        .where('id', '=', id)
        .where('deleted_at_ms', 'is', null)
        .executeTakeFirst();
      if (Number(result.numUpdatedRows) === 0) return false;
      await trx
        .updateTable('webhook_deliveries')
        .set({ status: DELIVERY_STATUS.cancelled, claimed_until_ms: null, updated_at_ms: now_ms })
        .where('endpoint_id', '=', id)
        .where('status', 'in', OPEN_STATUSES)
        .execute();
      return true;
    });
  }

  /** The endpoint's deliveries, newest event first, each with its attempts. */
  async listDeliveries(
    endpoint_id: string,
    options: { limit: number; before_event_id?: number; status?: DeliveryStatus },
  ): Promise<(Delivery & { attempt_log: Attempt[] })[]> {
    const { before_event_id, status } = options;
    let query = this.db.selectFrom('webhook_deliveries').selectAll().where('endpoint_id', '=', endpoint_id);
    if (before_event_id !== undefined) query = query.where('event_id', '<', before_event_id);
    if (status !== undefined) query = query.where('status', '=', status);
    const rows = await query.orderBy('event_id', 'desc').limit(options.limit).execute();
    return this.withAttempts(rows.map(deliveryFromRow));
  }

  /** One delivery of the endpoint with its attempts, or null when either is unknown. */
  async getDelivery(
    endpoint_id: string,
    delivery_id: string,
  ): Promise<(Delivery & { attempt_log: Attempt[] }) | null> {
    const row = await this.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('id', '=', delivery_id)
      .where('endpoint_id', '=', endpoint_id)
      .executeTakeFirst();
    return row ? ((await this.withAttempts([deliveryFromRow(row)]))[0] ?? null) : null;
  }

  /**
   * Puts a failed delivery of the endpoint back in the queue, due now, for one more attempt (as a
   * store's "resend": after its attempts are used up, another failure fails it again; redeliver it
   * again). Idempotent: while that attempt is queued or running, asking again changes nothing.
   * `attempts_max` tells such an attempt from one of the delivery's own schedule.
   */
  async redeliver(
    endpoint_id: string,
    delivery_id: string,
    now_ms: number,
    attempts_max: number,
  ): Promise<{
    outcome: 'queued' | 'already_queued' | 'not_failed' | 'not_found';
    delivery: Delivery | null;
  }> {
    return this.access.transaction(async (trx) => {
      const row = await trx
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
        .selectAll('d')
        .where('d.id', '=', delivery_id)
        .where('d.endpoint_id', '=', endpoint_id)
        .where('w.deleted_at_ms', 'is', null)
        .executeTakeFirst();
      if (!row) return { outcome: 'not_found', delivery: null };
      const delivery = deliveryFromRow(row);
      if (delivery.status !== DELIVERY_STATUS.failed) {
        const queued =
          (OPEN_STATUSES as string[]).includes(delivery.status) && delivery.attempts >= attempts_max;
        return { outcome: queued ? 'already_queued' : 'not_failed', delivery };
      }
      const queued = await this.requeueFailed(trx, [delivery_id], now_ms);
      // Another call requeued it between the read and the update: the same answer as a repeat.
      if (queued === 0) return { outcome: 'already_queued', delivery };
      return {
        outcome: 'queued',
        delivery: {
          ...delivery,
          status: DELIVERY_STATUS.pending,
          next_attempt_at_ms: now_ms,
          updated_at_ms: now_ms,
        },
      };
    });
  }

  /** Redelivers (as `redeliver`) up to `limit` failed deliveries of the endpoint, oldest event first; returns how many, or null for an unknown endpoint. */
  async redeliverFailed(endpoint_id: string, now_ms: number, limit: number): Promise<number | null> {
    return this.access.transaction(async (trx) => {
      const endpoint = await trx
        .selectFrom('webhook_endpoints')
        .select('id')
        .where('id', '=', endpoint_id)
        .where('deleted_at_ms', 'is', null)
        .executeTakeFirst();
      if (!endpoint) return null;
      const ids = (
        await trx
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('endpoint_id', '=', endpoint_id)
          .where('status', '=', DELIVERY_STATUS.failed)
          .orderBy('event_id')
          .limit(limit)
          .execute()
      ).map((row) => row.id);
      return ids.length === 0 ? 0 : this.requeueFailed(trx, ids, now_ms);
    });
  }

  /** Failed to pending, due now; only rows still failed (so a repeat or a race queues nothing twice). */
  private async requeueFailed(trx: Kysely<Database>, ids: string[], now_ms: number): Promise<number> {
    const result = await trx
      .updateTable('webhook_deliveries')
      .set({
        status: DELIVERY_STATUS.pending,
        next_attempt_at_ms: now_ms,
        claimed_until_ms: null,
        updated_at_ms: now_ms,
      })
      .where('id', 'in', ids)
      .where('status', '=', DELIVERY_STATUS.failed)
      .executeTakeFirst();
    return Number(result.numUpdatedRows);
  }

  /** The deliveries with their attempts, in order of attempt. */
  private async withAttempts<T extends Delivery>(
    deliveries: T[],
  ): Promise<(T & { attempt_log: Attempt[] })[]> {
    const attempts = new Map<string, Attempt[]>();
    if (deliveries.length > 0) {
      const attempt_rows = await this.db
        .selectFrom('webhook_attempts')
        .selectAll()
        .where(
          'delivery_id',
          'in',
          deliveries.map((delivery) => delivery.id),
        )
        .orderBy('delivery_id')
        .orderBy('attempt_no')
        .execute();
      for (const row of attempt_rows) {
        const list = attempts.get(row.delivery_id) ?? [];
        list.push({
          attempt_no: Number(row.attempt_no),
          at_ms: Number(row.at_ms),
          status_code: row.status_code === null ? null : Number(row.status_code),
          duration_ms: Number(row.duration_ms),
          error: row.error,
        });
        attempts.set(row.delivery_id, list);
      }
    }
    return deliveries.map((delivery) => ({ ...delivery, attempt_log: attempts.get(delivery.id) ?? [] }));
  }

  /**
   * Turns up to `limit` new outbox events into deliveries, one per matching active endpoint, and
   * moves the cursor past them, in one transaction (the cursor row is locked: one fan-out at a
   * time across processes). Returns how many events it read.
   */
  async fanOut(limit: number, now_ms: number): Promise<number> {
    return this.access.transaction(async (trx) => {
      await this.ensureCursor(trx);
      let cursor_query = trx
        .selectFrom('outbox_cursors')
        .select('last_event_id')
        .where('name', '=', CURSOR_NAME);
      if (this.access.locks_rows) cursor_query = cursor_query.forUpdate();
      const cursor = Number((await cursor_query.executeTakeFirstOrThrow()).last_event_id);
      const events = await trx
        .selectFrom('outbox')
        .select(['id', 'type', 'subject_id', 'created_at_ms'])
        .where('id', '>', cursor)
        .orderBy('id')
        .limit(limit)
        .execute();
      const last_event = events.at(-1);
      if (last_event === undefined) return 0;
      const endpoints = (
        await trx.selectFrom('webhook_endpoints').selectAll().where('active', '=', 1).execute()
      ).map(endpointFromRow);
      const rows: WebhookDeliveriesTable[] = [];
      for (const event of events) {
        for (const endpoint of endpoints) {
          if (endpoint.event_types !== null && !endpoint.event_types.includes(event.type as EventType))
            continue;
          // An endpoint hears of what happened after it was registered, not of an older backlog.
          if (Number(event.created_at_ms) < endpoint.created_at_ms) continue;
          rows.push({
            id: newId(),
            endpoint_id: endpoint.id,
            event_id: Number(event.id),
            event_type: event.type,
            subject_id: event.subject_id,
            status: DELIVERY_STATUS.pending,
            attempts: 0,
            next_attempt_at_ms: now_ms,
            claimed_until_ms: null,
            last_error: null,
            created_at_ms: now_ms,
            updated_at_ms: now_ms,
          });
        }
      }
      // 12 columns a row: 400 rows stay far below both databases' parameter limits.
      for (let start = 0; start < rows.length; start += 400) {
        await trx
          .insertInto('webhook_deliveries')
          .values(rows.slice(start, start + 400))
          .onConflict((oc) => oc.columns(['endpoint_id', 'event_id']).doNothing())
          .execute();
      }
      await trx
        .updateTable('outbox_cursors')
        .set({ last_event_id: Number(last_event.id) })
        .where('name', '=', CURSOR_NAME)
        .execute();
      return events.length;
    });
  }

  /** Endpoints with a delivery due (their next attempt's time has come), at most `limit` of them. */
  async dueEndpoints(now_ms: number, limit: number): Promise<string[]> {
    const rows = await this.db
      .selectFrom('webhook_deliveries as d')
      .select('d.endpoint_id')
      .distinct()
      .where((eb) => isDue(eb, now_ms))
      .limit(limit)
      .execute();
    return rows.map((row) => row.endpoint_id);
  }

  /**
   * Claims up to `limit` due deliveries (of one endpoint when `endpoint_id` is given) for one attempt each. A delivery is due when its time has
   * come and no earlier event of the same order is still open for the same endpoint (in order per
   * order); a `sending` claim that outlived its deadline (a worker died) is due again.
   */
  async claimDue(
    limit: number,
    now_ms: number,
    claim_ms: number,
    endpoint_id?: string,
  ): Promise<ClaimedDelivery[]> {
    return this.access.transaction(async (trx) => {
      let due = trx
        .selectFrom('webhook_deliveries as d')
        .select('d.id')
        .where((eb) => isDue(eb, now_ms))
        .where(({ not, exists, selectFrom }) =>
          not(
            exists(
              selectFrom('webhook_deliveries as e')
                .select('e.id')
                .whereRef('e.endpoint_id', '=', 'd.endpoint_id')
                .whereRef('e.subject_id', '=', 'd.subject_id')
                .whereRef('e.event_id', '<', 'd.event_id')
                .where('e.status', 'in', OPEN_STATUSES),
            ),
          ),
        )
        .orderBy('d.next_attempt_at_ms')
        .orderBy('d.event_id')
        .limit(limit);
      if (endpoint_id !== undefined) due = due.where('d.endpoint_id', '=', endpoint_id);
      // SKIP LOCKED: another worker's claim in progress is left to it, never waited for.
      if (this.access.locks_rows) due = due.forUpdate('d').skipLocked();
      const ids = (await due.execute()).map((row) => row.id);
      if (ids.length === 0) return [];
      await trx
        .updateTable('webhook_deliveries')
        .set((eb) => ({
          status: DELIVERY_STATUS.sending,
          attempts: eb('attempts', '+', 1),
          claimed_until_ms: now_ms + claim_ms,
          updated_at_ms: now_ms,
        }))
        .where('id', 'in', ids)
        .execute();
      const rows = await trx
        .selectFrom('webhook_deliveries as d')
        .innerJoin('webhook_endpoints as w', 'w.id', 'd.endpoint_id')
        .innerJoin('outbox as o', 'o.id', 'd.event_id')
        .selectAll('d')
        .select(['w.url', 'w.secret', 'o.payload', 'o.created_at_ms as event_at_ms'])
        .where('d.id', 'in', ids)
        .orderBy('d.event_id')
        .execute();
      return rows.map((row) => ({
        ...deliveryFromRow(row),
        url: row.url,
        secret: row.secret,
        body: JSON.stringify({
          id: Number(row.event_id),
          type: row.event_type,
          subject_id: row.subject_id,
          at: new Date(Number(row.event_at_ms)).toISOString(),
          data: JSON.parse(row.payload) as unknown,
        }),
      }));
    });
  }

  /**
   * Records one attempt and the delivery's next state. Fenced: only the claim that made attempt
   * `attempt_no` can finish it, so a worker whose claim went stale (and was taken over) or whose
   * endpoint was deleted changes nothing. Returns whether the record was taken.
   */
  async recordAttempt(
    delivery: Pick<Delivery, 'id' | 'attempts'>,
    result: AttemptResult,
    next: { status: DeliveryStatus; next_attempt_at_ms: number },
    now_ms: number,
  ): Promise<boolean> {
    return this.access.transaction(async (trx) => {
      const error = result.ok ? null : result.error.slice(0, ERROR_TEXT_MAX);
      const updated = await trx
        .updateTable('webhook_deliveries')
        .set({
          status: next.status,
          next_attempt_at_ms: next.next_attempt_at_ms,
          claimed_until_ms: null,
          last_error: error,
          updated_at_ms: now_ms,
        })
        .where('id', '=', delivery.id)
        .where('status', '=', DELIVERY_STATUS.sending)
        .where('attempts', '=', delivery.attempts)
        .executeTakeFirst();
      if (Number(updated.numUpdatedRows) === 0) return false;
      await trx
        .insertInto('webhook_attempts')
        .values({
          delivery_id: delivery.id,
          attempt_no: delivery.attempts,
          at_ms: now_ms,
          status_code: result.status_code,
          duration_ms: Math.round(result.duration_ms),
          error,
        })
        .execute();
      return true;
    });
  }

  /**
   * Forgets finished deliveries (succeeded, failed, cancelled) last touched before `before_ms`,
   * with their attempts, at most `limit` of them; returns how many.
   */
  async purgeFinished(before_ms: number, limit: number): Promise<number> {
    return this.access.transaction(async (trx) => {
      const ids = (
        await trx
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('status', 'not in', OPEN_STATUSES)
          .where('updated_at_ms', '<', before_ms)
          .limit(limit)
          .execute()
      ).map((row) => row.id);
      if (ids.length === 0) return 0;
      await trx.deleteFrom('webhook_attempts').where('delivery_id', 'in', ids).execute();
      await trx.deleteFrom('webhook_deliveries').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  /**
   * Forgets outbox events created before `before_ms`, at most `limit` of them; returns how many.
   * Only events the fan-out has read and no open delivery still needs (its body is built from the
   * event): a backlog is never lost, however old. Ids are never handed out again (SQLite's
   * AUTOINCREMENT, PostgreSQL's identity), so "events after id N" stays right.
   */
  async purgeOutbox(before_ms: number, limit: number): Promise<number> {
    return this.access.transaction(async (trx) => {
      const cursor = await trx
        .selectFrom('outbox_cursors')
        .select('last_event_id')
        .where('name', '=', CURSOR_NAME)
        .executeTakeFirst();
      const open = await trx
        .selectFrom('webhook_deliveries')
        .select((eb) => eb.fn.min('event_id').as('event_id'))
        .where('status', 'in', OPEN_STATUSES)
        .executeTakeFirst();
      // Without a cursor no fan-out has run yet: what it will read starts after the newest event.
      let through = cursor ? Number(cursor.last_event_id) : Number.MAX_SAFE_INTEGER;
      if (open?.event_id != null) through = Math.min(through, Number(open.event_id) - 1);
      const ids = (
        await trx
          .selectFrom('outbox')
          .select('id')
          .where('id', '<=', through)
          .where('created_at_ms', '<', before_ms)
          .orderBy('id')
          .limit(limit)
          .execute()
      ).map((row) => Number(row.id));
      if (ids.length === 0) return 0;
      await trx.deleteFrom('outbox').where('id', 'in', ids).execute();
      return ids.length;
    });
  }

  /** Events not yet fanned out, and deliveries not yet finished: the backlog gauges. */
  async backlog(): Promise<{ outbox_events: number; deliveries_open: number; deliveries_failed: number }> {
    const cursor = await this.db
      .selectFrom('outbox_cursors')
      .select('last_event_id')
      .where('name', '=', CURSOR_NAME)
      .executeTakeFirst();
    const outbox = await this.db
      .selectFrom('outbox')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('id', '>', Number(cursor?.last_event_id ?? 0))
      .executeTakeFirstOrThrow();
    const by_status = await this.db
      .selectFrom('webhook_deliveries')
      .select(['status', (eb) => eb.fn.countAll<number>().as('n')])
      .where('status', 'in', [...OPEN_STATUSES, DELIVERY_STATUS.failed])
      .groupBy('status')
      .execute();
    const count = (statuses: string[]) =>
      by_status.filter((row) => statuses.includes(row.status)).reduce((sum, row) => sum + Number(row.n), 0);
    return {
      outbox_events: cursor ? Number(outbox.n) : 0,
      deliveries_open: count(OPEN_STATUSES),
      deliveries_failed: count([DELIVERY_STATUS.failed]),
    };
  }

  private async ensureCursor(trx: Kysely<Database>): Promise<void> {
    const last = await trx
      .selectFrom('outbox')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    await trx
      .insertInto('outbox_cursors')
      .values({ name: CURSOR_NAME, last_event_id: Number(last?.id ?? 0) })
      .onConflict((oc) => oc.column('name').doNothing())
      .execute();
  }
}

function endpointFromRow(row: Omit<WebhookEndpointsTable, 'deleted_at_ms'>): Endpoint {
  return {
    id: row.id,
    url: row.url,
    secret: row.secret,
    event_types: row.event_types === null ? null : (JSON.parse(row.event_types) as EventType[]),
    active: Number(row.active) === 1,
    created_at_ms: Number(row.created_at_ms),
  };
}

function deliveryFromRow(row: WebhookDeliveriesTable): Delivery {
  return {
    id: row.id,
    endpoint_id: row.endpoint_id,
    event_id: Number(row.event_id),
    event_type: row.event_type,
    subject_id: row.subject_id,
    status: row.status as DeliveryStatus,
    attempts: Number(row.attempts),
    next_attempt_at_ms: Number(row.next_attempt_at_ms),
    last_error: row.last_error,
    created_at_ms: Number(row.created_at_ms),
    updated_at_ms: Number(row.updated_at_ms),
  };
}

/** Pending and its time has come, or claimed by a worker whose claim outlived its deadline. */
function isDue(eb: ExpressionBuilder<DeliveryRow, 'd'>, now_ms: number) {
  return eb.or([
    eb.and([eb('d.status', '=', DELIVERY_STATUS.pending), eb('d.next_attempt_at_ms', '<=', now_ms)]),
    eb.and([eb('d.status', '=', DELIVERY_STATUS.sending), eb('d.claimed_until_ms', '<=', now_ms)]),
  ]);
}
