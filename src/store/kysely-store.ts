// The store, written once over Kysely for every dialect: each write is one transaction that loads
// the rows its commands touch (locked where the dialect needs it), decides them in memory with the
// pure Workspace, and writes the rows, ledger, outbox and idempotency keys back together.
import { type Kysely, type SelectQueryBuilder, sql } from 'kysely';
import type { AuditReport } from '../core/audit.ts';
import { decide, definitionOf, ordersNeeded, shortSkus, skusNeeded, usageNeeded } from '../core/commands.ts';
import type { Effects } from '../core/effects.ts';
import { assert, type ErrorBody, StockholdError } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { linesInOrderOf } from '../core/lines.ts';
import {
  type Command,
  type DomainEvent,
  type LedgerEntry,
  type MovementKind,
  ORDER_STATUS,
  type OrderLine,
  type OrderReturn,
  type OrderState,
  type OrderStatus,
  type SkuState,
} from '../core/types.ts';
import { validateCommand } from '../core/validate.ts';
import { isPastDeadline, Workspace } from '../core/workspace.ts';
import { ApiKeyRepository } from './api-key-repository.ts';
import { type BulkWrite, BulkWrites } from './bulk-writes.ts';
import { CommitFeed } from './commit-feed.ts';
import { customerUnits } from './customer-units.ts';
import { pastDeadline } from './deadline-sql.ts';
import type { DialectAdapter, PoolStats } from './dialect.ts';
import type { DialectName } from './dialects.ts';
import { DropRepository, dropRow, loadDrops, ticketRow } from './drop-repository.ts';
import { isStoredReplay } from './idempotency-replay.ts';
import { chunks, IN_LIST_MAX } from './in-lists.ts';
import { auditBuckets, inSnapshot, type VerifyReport, verifyStore } from './ledger-audit.ts';
import { MetricReads } from './metric-reads.ts';
import { migrateToLatest, pendingMigrationNames } from './migrations.ts';
import type { RepositoryAccess } from './repository-access.ts';
import {
  type Columns,
  type Database,
  DROP_COLUMNS,
  decodeRow,
  HOLD_COLUMNS,
  HOLD_RESCHEDULE_COLUMNS,
  IDEMPOTENCY_KEY_COLUMNS,
  LEDGER_COLUMNS,
  type LedgerTable,
  ORDER_CHANGE_COLUMNS,
  ORDER_COLUMNS,
  ORDER_LINE_COLUMNS,
  ORDER_RETURN_COLUMNS,
  ORDER_SOLD_LINE_COLUMNS,
  type OrdersTable,
  OUTBOX_COLUMNS,
  SKU_COLUMNS,
  SKU_FIELD_UPDATE_COLUMNS,
  SKU_UPDATE_COLUMNS,
  type SkusTable,
  TICKET_USE_COLUMNS,
} from './schema.ts';
import {
  isStorageUnavailable,
  OutageEpisodes,
  type OutageLogger,
  storageUnavailableError,
} from './storage-faults.ts';
import type {
  CommandEnvelope,
  CommandResult,
  Idempotency,
  OrderFilter,
  Outcome,
  Store,
  StoredEvent,
} from './store.ts';
import { WebhookRepository } from './webhook-repository.ts';

export interface KyselyStoreOptions {
  /** Attempts of one transaction when the database reports a retryable conflict (8). */
  attempts_max?: number;
  /** Where the store's outages are logged (once per episode); none when null. */
  logger?: OutageLogger | null;
}

const ATTEMPTS_MAX_DEFAULT = 8;

/** Idempotency keys forgotten per statement. */
const PURGE_CHUNK_ROWS = 10_000;
/** The values of `columns`, in their order, read from an object that has them all. */
function valuesOf<C extends Columns>(columns: C, row: { [K in keyof C]: unknown }): unknown[] {
  return Object.keys(columns).map((column) => row[column as keyof C]);
}

/** The least time between two write probes that could end an outage (confirmRecovery). */
const RECOVERY_PROBE_INTERVAL_MS = 1000;

/** The PostgreSQL advisory lock that orders outbox inserts by commit (any fixed 64-bit number). */
export const OUTBOX_LOCK_KEY = 0x5354_4f43_4b01; // "STOCK" + 1

type Tx = Kysely<Database>;

export class KyselyStore implements Store {
  readonly dialect: DialectName;
  private readonly bulk: BulkWrites;
  /**
   * Outages as the request path and readiness meet them: logged once per episode, over when a write
   * or the readiness check succeeds again.
   */
  readonly outages: OutageEpisodes;
  /** Told what each committed write did (metrics); never throws into the write path. */
  readonly commits = new CommitFeed();
  /** The api_keys table, on this store's connections and transactions. */
  readonly api_keys: ApiKeyRepository;
  /** The webhook tables, on this store's connections and transactions. */
  readonly webhooks: WebhookRepository;
  /** The reads behind the gauges and the simulator's report. */
  readonly metric_reads: MetricReads;
  /** Drops' tickets, positions and admissions (issue 24). */
  readonly drops: DropRepository;
  private readonly attempts_max: number;
  private recovery_probe_at_ms: number | null = null;

  constructor(
    private readonly db: Kysely<Database>,
    /** Where reads go: on SQLite a second connection, so reads never wait behind a write. */
    private readonly read_db: Kysely<Database>,
    private readonly adapter: DialectAdapter,
    options: KyselyStoreOptions = {},
  ) {
    this.dialect = adapter.name;
    this.bulk = new BulkWrites(adapter.bulk_writer);
    this.attempts_max = options.attempts_max ?? ATTEMPTS_MAX_DEFAULT;
    this.outages = new OutageEpisodes('the store', options.logger ?? null);
    const access: RepositoryAccess = {
      db,
      read_db,
      locks_rows: adapter.locks_rows,
      transaction: (work) => this.withRetries(() => adapter.writeTransaction(db, work)),
    };
    this.api_keys = new ApiKeyRepository(access);
    this.webhooks = new WebhookRepository(access);
    this.metric_reads = new MetricReads(access);
    this.drops = new DropRepository(access, (trx, events) => this.bulk.run(trx, [outboxWrite(events)]));
  }

  poolStats(): PoolStats | null {
    return this.adapter.poolStats?.() ?? null;
  }

  async migrate(): Promise<string[]> {
    try {
      return await migrateToLatest(this.db as unknown as Kysely<unknown>, this.dialect);
    } finally {
      // A migration may rewrite any row: the cache reads every SKU again.
      this.adapter.sku_cache?.clear();
    }
  }

  async execute(envelopes: readonly CommandEnvelope[], now_ms: number): Promise<CommandResult[]> {
    if (envelopes.length === 0) return [];
    let events: readonly DomainEvent[] = [];
    let effects: Effects | null = null;
    const results = await this.committing(() =>
      this.adapter.writeTransaction(this.db, async (trx) => {
        const decided = await this.decideAndWrite(trx, envelopes, now_ms);
        events = decided.events;
        effects = decided.effects;
        return decided.results;
      }),
    );
    if (effects !== null) this.cacheCommitted(effects);
    this.commits.publish({ source: 'execute', envelopes, results, events });
    return results;
  }

  /** Tells the SKU cache (where the database has one) what a committed transaction wrote and deleted. */
  private cacheCommitted(effects: Effects): void {
    const written = [...effects.skus_created, ...effects.skus_changed, ...effects.skus_updated];
    this.adapter.sku_cache?.committed(written, effects.skus_deleted);
  }

  async rehearse(envelopes: readonly CommandEnvelope[], now_ms: number): Promise<void> {
    const rolled_back = new Error('rehearsal rolled back');
    try {
      await this.withRetries(() =>
        this.adapter.writeTransaction(this.db, async (trx) => {
          await this.decideAndWrite(trx, envelopes, now_ms);
          throw rolled_back;
        }),
      );
    } catch (error) {
      if (error !== rolled_back) throw error;
    }
  }

  async sweepExpired(now_ms: number, limit: number): Promise<number> {
    const set_based = this.adapter.sweepExpired;
    if (set_based) {
      const swept = await this.committing(() =>
        this.adapter.writeTransaction(this.db, (trx) => set_based(trx, now_ms, limit)),
      );
      // Its SKUs' states were written in SQL, not decided here: the cache reads them again.
      this.adapter.sku_cache?.forget(swept.skus_changed);
      return this.sweptOrders(swept.expired_orders);
    }
    const { expired_orders, effects } = await this.committing(() =>
      this.adapter.writeTransaction(this.db, (trx) => this.expireDueOrders(trx, now_ms, limit)),
    );
    this.cacheCommitted(effects);
    return this.sweptOrders(expired_orders);
  }

  private sweptOrders(expired_orders: number): number {
    if (expired_orders > 0) this.commits.publish({ source: 'sweep', expired_orders });
    return expired_orders;
  }

  /**
   * The sweeper's batch through the Workspace: loads the due orders (locked; SKIP LOCKED leaves an
   * order being paid, cancelled or swept by another process to it) and their SKUs, and expires them.
   * On PostgreSQL this measured faster than the same work as set-based SQL (README, Performance):
   * there the database, not JavaScript, is the bound.
   */
  private async expireDueOrders(
    trx: Tx,
    now_ms: number,
    limit: number,
  ): Promise<{ expired_orders: number; effects: Effects }> {
    // `<=`: a hold is valid while now < expires_at, so an order whose deadline is now is due.
    const due = await this.lockOrders(
      trx
        .selectFrom('orders')
        .selectAll()
        .where('status', '=', ORDER_STATUS.pending_payment)
        .where(pastDeadline('expires_at_ms', now_ms))
        .orderBy('expires_at_ms')
        .limit(limit),
      'skip_locked',
    ).execute();
    const workspace = new Workspace(now_ms);
    if (due.length === 0) return { expired_orders: 0, effects: workspace.effects() };
    await this.loadOrderRows(trx, workspace, due);
    await this.loadSkus(
      trx,
      workspace,
      skusOfOrders(
        workspace,
        due.map((row) => row.id),
      ),
    );
    for (const row of due) workspace.expire(row.id);
    const effects = workspace.effects();
    await this.write(trx, effects);
    return { expired_orders: due.length, effects };
  }

  /**
   * Writes effects the core decided outside `execute`, in one write transaction, through the same
   * writer as every command. The caller decided them over rows it read itself, unlocked: for tests
   * of the writer and tools, never for a request.
   */
  async writeEffects(effects: Effects): Promise<void> {
    await this.committing(() => this.adapter.writeTransaction(this.db, (trx) => this.write(trx, effects)));
    this.cacheCommitted(effects);
  }

  async purgeIdempotencyKeys(created_before_ms: number): Promise<number> {
    // In bounded chunks: the morning after a flash sale can hold millions of keys to forget.
    let purged = 0;
    for (;;) {
      const result = await this.db
        .deleteFrom('idempotency_keys')
        .where('key', 'in', (sub) =>
          sub
            .selectFrom('idempotency_keys')
            .select('key')
            .where('created_at_ms', '<', created_before_ms)
            .limit(PURGE_CHUNK_ROWS),
        )
        .executeTakeFirst();
      const deleted = Number(result.numDeletedRows);
      purged += deleted;
      if (deleted < PURGE_CHUNK_ROWS) return purged;
    }
  }

  async getSku(sku: string): Promise<SkuState | null> {
    const cache = this.adapter.sku_cache;
    const cached = cache?.get(sku);
    if (cached) return cached;
    const generation = cache?.generation() ?? 0;
    const row = await (this.adapter.prepared_reads?.sku(sku) ??
      this.read_db.selectFrom('skus').selectAll().where('sku', '=', sku).executeTakeFirst());
    if (!row) return null;
    const state = skuFromRow(row);
    cache?.fill(state, generation);
    return state;
  }

  async listSkus(limit: number, after_sku?: string, with_archived = false): Promise<SkuState[]> {
    let query = this.read_db.selectFrom('skus').selectAll();
    if (after_sku !== undefined) query = query.where('sku', '>', after_sku);
    if (!with_archived) query = query.where('archived', '=', 0);
    const rows = await query.orderBy('sku').limit(limit).execute();
    return rows.map(skuFromRow);
  }

  async getOrder(id: string): Promise<OrderState | null> {
    const reads = this.adapter.prepared_reads;
    if (reads) {
      const found = await reads.order(id);
      if (!found) return null;
      const [order] = await this.withAfterPayment(this.read_db, [orderFromRow(found.row, found.lines)]);
      return order ?? null;
    }
    const row = await this.read_db.selectFrom('orders').selectAll().where('id', '=', id).executeTakeFirst();
    if (!row) return null;
    const [order] = await this.withLines(this.read_db, [row]);
    return order ?? null;
  }

  async listOrders(filter: OrderFilter): Promise<OrderState[]> {
    const { status, customer_id, sku, before_id } = filter;
    let query = this.read_db.selectFrom('orders').selectAll();
    if (status !== undefined) query = query.where('status', '=', status);
    if (customer_id !== undefined) query = query.where('customer_id', '=', customer_id);
    if (sku !== undefined) {
      query = query.where('id', 'in', (sub) =>
        sub.selectFrom('order_lines').select('order_id').where('sku', '=', sku),
      );
    }
    if (before_id !== undefined) query = query.where('id', '<', before_id);
    const rows = await query.orderBy('id', 'desc').limit(filter.limit).execute();
    return this.withLines(this.read_db, rows);
  }

  async ledger(
    sku: string,
    limit: number,
    beyond_seq?: number,
    newest_first = false,
  ): Promise<LedgerEntry[]> {
    let query = this.read_db.selectFrom('ledger').selectAll().where('sku', '=', sku);
    if (beyond_seq !== undefined) query = query.where('seq', newest_first ? '<' : '>', beyond_seq);
    const rows = await query
      .orderBy('seq', newest_first ? 'desc' : 'asc')
      .limit(limit)
      .execute();
    return rows.map(ledgerEntryFromRow);
  }

  async orderLedger(order_id: string): Promise<LedgerEntry[]> {
    // No pages: an order has at most 100 SKUs and each moves at most 3 times for it (hold; payment,
    // cancel or expiry; a late payment after an expiry), plus its bounded changes and returns
    // (LIMITS.order_ledger_entries_max). One more is read so a
    // broken bound fails loudly instead of answering a truncated list. Served by ledger_by_order.
    const entries_max = LIMITS.order_ledger_entries_max;
    const rows = await this.read_db
      .selectFrom('ledger')
      .selectAll()
      .where('order_id', '=', order_id)
      .orderBy('sku')
      .orderBy('seq')
      .limit(entries_max + 1)
      .execute();
    assert(rows.length <= entries_max, `order ${order_id} has at most ${entries_max} ledger entries`);
    return rows.map(ledgerEntryFromRow);
  }

  async eventsAfter(after_id: number, limit: number): Promise<StoredEvent[]> {
    const rows = await this.read_db
      .selectFrom('outbox')
      .selectAll()
      .where('id', '>', after_id)
      .orderBy('id')
      .limit(limit)
      .execute();
    return rows.map((row) => ({
      id: Number(row.id),
      type: row.type as StoredEvent['type'],
      subject_id: row.subject_id,
      at_ms: Number(row.created_at_ms),
      data: JSON.parse(row.payload) as Record<string, unknown>,
    }));
  }

  async lastEventId(): Promise<number> {
    const row = await this.read_db
      .selectFrom('outbox')
      .select((eb) => eb.fn.max('id').as('id'))
      .executeTakeFirst();
    return Number(row?.id ?? 0);
  }

  /** The bucket audit, in one read-only snapshot (src/store/ledger-audit.ts). */
  audit(): Promise<AuditReport> {
    return inSnapshot(this.read_db, auditBuckets);
  }

  /** The audit and the ledger's deep checks, in one read-only snapshot (src/store/ledger-audit.ts). */
  verify(): Promise<VerifyReport> {
    return verifyStore(this.read_db);
  }

  /**
   * Whether the store holds the answer to this very request (same key, same fingerprint): sent
   * again, it is a replay, answered from that record without doing the work.
   */
  isStoredReplay(idempotency: Idempotency): Promise<boolean> {
    return isStoredReplay(this.adapter.prepared_reads ?? this.read_db, idempotency);
  }

  async checkReady(): Promise<void> {
    try {
      // Reachable, and every migration this code knows is applied (Kysely's own record of them).
      const applied = await sql<{ name: string }>`select name from kysely_migration`.execute(this.read_db);
      // Reads can go on while writes fail (a full disk): during an outage, writes must work too.
      if (this.outages.down) await this.adapter.probeWrites?.();
      const pending = pendingMigrationNames(
        applied.rows.map((row) => row.name),
        this.dialect,
      );
      if (pending.length > 0) throw new Error(`migrations not applied: ${pending.join(', ')}`);
    } catch (error) {
      if (isStorageUnavailable(error)) this.outages.failed(error);
      throw error;
    }
    this.outages.succeeded();
  }

  async close(): Promise<void> {
    await this.adapter.close();
  }

  /**
   * Ends an outage once the write probe passes too: a write that needed no new space (an empty
   * sweep, a batch that fit in free pages) succeeds on a full disk and proves nothing. At most one
   * probe a second; a probe that fails for another reason than storage does not hold recovery up.
   */
  private async confirmRecovery(): Promise<void> {
    const now_ms = Date.now();
    if (this.recovery_probe_at_ms !== null && now_ms - this.recovery_probe_at_ms < RECOVERY_PROBE_INTERVAL_MS)
      return;
    this.recovery_probe_at_ms = now_ms;
    try {
      await this.adapter.probeWrites?.();
      this.outages.succeeded();
    } catch (error) {
      if (isStorageUnavailable(error)) this.outages.failed(error);
      else this.outages.succeeded();
    }
  }

  /**
   * A write transaction, with the store's retries. One that failed may still have committed (a
   * connection lost during COMMIT): the SKU cache then cannot know, and reads every SKU again.
   */
  private async committing<T>(transaction: () => Promise<T>): Promise<T> {
    try {
      return await this.withRetries(transaction);
    } catch (error) {
      this.adapter.sku_cache?.clear();
      throw error;
    }
  }

  private async withRetries<T>(attempt: () => Promise<T>): Promise<T> {
    for (let attempt_no = 1; ; attempt_no++) {
      try {
        const result = await attempt();
        if (this.outages.down) void this.confirmRecovery();
        return result;
      } catch (error) {
        // Not retried here: a connection lost during COMMIT may have committed, and only the
        // client's Idempotency-Key makes running it again safe. Nothing is half-done either way.
        if (isStorageUnavailable(error)) {
          this.outages.failed(error);
          throw storageUnavailableError(error);
        }
        const retryable = this.adapter.isRetryable(error);
        if (this.adapter.isOverloaded(error) || (retryable && attempt_no >= this.attempts_max)) {
          throw new StockholdError('overloaded', 'the database is too busy to take this now; retry shortly', {
            retry_after_seconds: 1,
          });
        }
        if (!retryable) throw error;
        // Jittered back-off so racing transactions do not collide again in lockstep.
        await new Promise((resolve) => setTimeout(resolve, Math.random() * 5 * attempt_no));
      }
    }
  }

  private async decideAndWrite(trx: Tx, envelopes: readonly CommandEnvelope[], now_ms: number) {
    const results: (CommandResult | undefined)[] = envelopes.map(() => undefined);
    const workspace = new Workspace(now_ms);

    // Validation first: a refused request stores nothing under its key.
    const valid: number[] = [];
    envelopes.forEach((envelope, index) => {
      const invalid = validateCommand(envelope.command);
      if (invalid) results[index] = { outcome: refusal(invalid), replayed: false };
      else valid.push(index);
    });

    const { claimed, duplicate_of, to_decide } = await this.claimKeys(trx, envelopes, valid, results);
    const commands = to_decide.map((index) => commandAt(envelopes, index));
    await this.loadForCommands(trx, workspace, commands);
    await this.decideEach(trx, workspace, envelopes, to_decide, results);
    for (const [index, first] of duplicate_of) {
      results[index] = { outcome: resultAt(results, first).outcome, replayed: true };
    }

    const effects = workspace.effects();
    await this.write(trx, effects, [
      {
        kind: 'insert',
        table: 'idempotency_keys',
        columns: IDEMPOTENCY_KEY_COLUMNS,
        rows: [...claimed].map(([key, { index, fingerprint }]) => [
          key,
          fingerprint,
          JSON.stringify(resultAt(results, index).outcome),
          now_ms,
        ]),
      },
    ]);
    return {
      results: envelopes.map((_, index) => resultAt(results, index)),
      events: workspace.events,
      effects,
    };
  }

  /**
   * Idempotency: a known key replays its stored outcome (into `results`); a new key is claimed by
   * this transaction; a key claimed earlier in the batch makes a duplicate of that command.
   */
  private async claimKeys(
    trx: Tx,
    envelopes: readonly CommandEnvelope[],
    valid: readonly number[],
    results: (CommandResult | undefined)[],
  ) {
    const keys = [...new Set(valid.flatMap((index) => envelopes[index]?.idempotency?.key ?? []))];
    const stored = new Map<string, { fingerprint: string; outcome: string }>();
    for (const chunk of chunks(keys, IN_LIST_MAX)) {
      const rows = await trx
        .selectFrom('idempotency_keys')
        .select(['key', 'fingerprint', 'outcome'])
        .where('key', 'in', chunk)
        .execute();
      for (const row of rows) stored.set(row.key, row);
    }
    const claimed = new Map<string, { index: number; fingerprint: string }>();
    const duplicate_of = new Map<number, number>();
    const to_decide: number[] = [];
    for (const index of valid) {
      const idempotency = envelopes[index]?.idempotency;
      if (!idempotency) {
        to_decide.push(index);
        continue;
      }
      const prior = stored.get(idempotency.key);
      const first = claimed.get(idempotency.key);
      const prior_fingerprint = prior?.fingerprint ?? first?.fingerprint ?? null;
      if (prior_fingerprint !== null && prior_fingerprint !== idempotency.fingerprint) {
        results[index] = { outcome: refusal(keyReused()), replayed: false };
      } else if (prior) {
        results[index] = { outcome: JSON.parse(prior.outcome) as Outcome, replayed: true };
      } else if (first !== undefined) {
        duplicate_of.set(index, first.index);
      } else {
        claimed.set(idempotency.key, { index, fingerprint: idempotency.fingerprint });
        to_decide.push(index);
      }
    }
    return { claimed, duplicate_of, to_decide };
  }

  /** Decides each command in order, into `results`; a refusal for stock may retry after a lazy reclaim. */
  private async decideEach(
    trx: Tx,
    workspace: Workspace,
    envelopes: readonly CommandEnvelope[],
    to_decide: readonly number[],
    results: (CommandResult | undefined)[],
  ): Promise<void> {
    const reclaimed = new Set<string>();
    for (const index of to_decide) {
      const command = commandAt(envelopes, index);
      let decision = decide(workspace, command);
      if (!decision.ok && definitionOf(command).reclaims_when_short) {
        // Lazy reclaim: expired holds of a short SKU go back to available before we refuse.
        const short = shortSkus(decision.error).filter((sku) => !reclaimed.has(sku));
        for (const sku of short) reclaimed.add(sku);
        if (short.length > 0 && (await this.reclaimExpired(trx, workspace, short)) > 0) {
          decision = decide(workspace, command);
        }
      }
      results[index] = {
        outcome: decision.ok ? { ok: true, value: decision.value } : refusal(decision.error),
        replayed: false,
      };
    }
  }

  /**
   * Loads what the commands' definitions declare (and on PostgreSQL locks it: orders first, then
   * SKUs, each in id order), then the customer usage they read: one statement for the whole batch.
   */
  private async loadForCommands(trx: Tx, workspace: Workspace, commands: readonly Command[]): Promise<void> {
    for (const chunk of chunks(ordersNeeded(commands), IN_LIST_MAX)) {
      const rows = await this.lockOrders(
        trx.selectFrom('orders').selectAll().where('id', 'in', chunk).orderBy('id'),
        'wait',
      ).execute();
      await this.loadOrderRows(trx, workspace, rows);
    }
    await this.loadSkus(trx, workspace, skusNeeded(commands, workspace));
    await loadDrops(trx, workspace, commands, this.adapter.locks_rows);
    const pairs = usageNeeded(commands, workspace);
    const units = await customerUnits(trx, this.dialect, pairs, workspace.now_ms);
    for (const [{ customer_id, sku }, quantity] of units) workspace.loadUsage(customer_id, sku, quantity);
  }

  private async reclaimExpired(trx: Tx, workspace: Workspace, skus: string[]): Promise<number> {
    const candidates = await trx
      .selectFrom('holds')
      .select('order_id')
      .where('sku', 'in', skus)
      .where(pastDeadline('expires_at_ms', workspace.now_ms))
      .orderBy('expires_at_ms')
      .limit(LIMITS.lazy_reclaim_orders_max)
      .execute();
    const candidate_ids = [...new Set(candidates.map((row) => row.order_id))];
    // An overdue order this transaction already loaded (a pay or cancel of it in the same group
    // commit) is expired here too: skipping it refused checkouts that any serial order would accept.
    let expired_loaded = 0;
    for (const id of candidate_ids) {
      const order = workspace.orders.get(id);
      if (order?.status === ORDER_STATUS.pending_payment && isPastDeadline(order, workspace.now_ms)) {
        workspace.expire(id);
        expired_loaded += 1;
      }
    }
    const ids = candidate_ids.filter((id) => !workspace.orders.has(id)).sort();
    if (ids.length === 0) return expired_loaded;
    // SKIP LOCKED: an order another transaction is paying or sweeping is left to that transaction.
    const rows = await this.lockOrders(
      trx
        .selectFrom('orders')
        .selectAll()
        .where('id', 'in', ids)
        .where('status', '=', ORDER_STATUS.pending_payment)
        .orderBy('id'),
      'skip_locked',
    ).execute();
    await this.loadOrderRows(trx, workspace, rows);
    // The other SKUs of these orders are locked after the ones this transaction holds. Waiting for
    // one that sorts after all of those keeps the one lock order (no deadlock); one that sorts before
    // is taken only if free (SKIP LOCKED), and an order whose SKUs are not all ours is left to the
    // sweeper. (Ids are ASCII, so JavaScript's order is the byte order; a database collation that
    // sorts otherwise can at worst cause a deadlock, which is retried.)
    const others = skusOfOrders(
      workspace,
      rows.map((row) => row.id),
    ).filter((id) => !workspace.skus.has(id));
    const held_max = [...workspace.skus.keys()].reduce((max, id) => (id > max ? id : max), '');
    await this.loadSkus(
      trx,
      workspace,
      others.filter((id) => id > held_max),
      'wait',
    );
    await this.loadSkus(
      trx,
      workspace,
      others.filter((id) => id < held_max),
      'skip_locked',
    );
    const expirable = rows.filter((row) =>
      (workspace.orders.get(row.id)?.lines ?? []).every((line) => workspace.skus.has(line.sku)),
    );
    for (const row of expirable) workspace.expire(row.id);
    return expired_loaded + expirable.length;
  }

  private lockOrders<O>(
    query: SelectQueryBuilder<Database, 'orders', O>,
    mode: 'wait' | 'skip_locked',
  ): SelectQueryBuilder<Database, 'orders', O> {
    if (!this.adapter.locks_rows) return query;
    return mode === 'wait' ? query.forUpdate() : query.forUpdate().skipLocked();
  }

  private async loadOrderRows(trx: Tx, workspace: Workspace, rows: OrdersTable[]): Promise<void> {
    for (const order of await this.withLines(trx, rows)) workspace.loadOrder(order);
  }

  private async loadSkus(
    trx: Tx,
    workspace: Workspace,
    sku_ids: Iterable<string>,
    mode: 'wait' | 'skip_locked' = 'wait',
  ): Promise<void> {
    const missing = [...new Set(sku_ids)].filter((id) => !workspace.skus.has(id)).sort();
    for (const chunk of chunks(missing, IN_LIST_MAX)) {
      let query = trx.selectFrom('skus').selectAll().where('sku', 'in', chunk).orderBy('sku');
      if (this.adapter.locks_rows)
        query = mode === 'wait' ? query.forUpdate() : query.forUpdate().skipLocked();
      for (const row of await query.execute()) workspace.loadSku(skuFromRow(row));
    }
  }

  private async withLines(db: Tx, rows: OrdersTable[]): Promise<OrderState[]> {
    const lines = new Map<string, OrderLine[]>();
    for (const chunk of chunks(
      rows.map((row) => row.id),
      IN_LIST_MAX,
    )) {
      const line_rows = await db
        .selectFrom('order_lines')
        .select(['order_id', 'sku', 'quantity'])
        .where('order_id', 'in', chunk)
        .orderBy('order_id')
        .orderBy('line_no')
        .execute();
      for (const line of line_rows) {
        const list = lines.get(line.order_id) ?? [];
        list.push({ sku: line.sku, quantity: Number(line.quantity) });
        lines.set(line.order_id, list);
      }
    }
    return this.withAfterPayment(
      db,
      rows.map((row) => orderFromRow(row, lines.get(row.id) ?? [])),
    );
  }

  /** Paid orders with what they sold and their returns (the other orders as they are). */
  private async withAfterPayment(db: Tx, orders: OrderState[]): Promise<OrderState[]> {
    const after_payment = await this.afterPayment(
      db,
      orders.filter((order) => order.status === ORDER_STATUS.paid).map((order) => order.id),
    );
    return orders.map((order) => {
      if (order.status !== ORDER_STATUS.paid) return order;
      return {
        ...order,
        sold_lines: linesInOrderOf(order.lines, after_payment.sold.get(order.id) ?? new Map()),
        returns: after_payment.returns.get(order.id) ?? [],
      };
    });
  }

  /** What paid orders sold per SKU and their returns: read only for paid orders (none on the checkout path). */
  private async afterPayment(db: Tx, paid_ids: readonly string[]) {
    const sold = new Map<string, Map<string, number>>();
    const returns = new Map<string, OrderReturn[]>();
    for (const chunk of chunks(paid_ids, IN_LIST_MAX)) {
      const sold_rows = await db
        .selectFrom('order_sold_lines')
        .selectAll()
        .where('order_id', 'in', chunk)
        .orderBy('order_id')
        .orderBy('sku')
        .execute();
      for (const row of sold_rows) {
        const totals = sold.get(row.order_id) ?? new Map<string, number>();
        totals.set(row.sku, Number(row.quantity));
        sold.set(row.order_id, totals);
      }
      const return_rows = await db
        .selectFrom('order_returns')
        .selectAll()
        .where('order_id', 'in', chunk)
        .orderBy('order_id')
        .orderBy('return_no')
        .orderBy('line_no')
        .execute();
      for (const raw of return_rows) {
        const row = decodeRow(ORDER_RETURN_COLUMNS, raw);
        const list = returns.get(row.order_id) ?? [];
        if (list.length === row.return_no) {
          list.push({ at_ms: row.at_ms, lines: [], restock: row.restock === 1, reason: row.reason });
        }
        const record = list[row.return_no];
        assert(record !== undefined, `returns of order ${row.order_id} are numbered from 0 without gaps`);
        record.lines.push({ sku: row.sku, quantity: row.quantity });
        returns.set(row.order_id, list);
      }
    }
    return { sold, returns };
  }

  /**
   * Writes the effects (rows, holds, ledger, then the outbox) and any `extra` writes, in this
   * transaction; on PostgreSQL as one statement. Each effect kind maps to its writes, whatever
   * decided it.
   */
  private async write(trx: Tx, effects: Effects, extra: readonly BulkWrite[] = []): Promise<void> {
    // Rows deleted to be written again (replaced lines and holds) go first, in a statement of
    // their own: PostgreSQL's one statement sees every row as it was before it, so its insert would
    // meet the old key. A checkout, pay, cancel or expiry never replaces rows.
    await this.bulk.run(trx, replacedRowDeletes(effects));
    await this.bulk.run(trx, effectWrites(effects, extra));
  }
}

/** The deletes of the rows that replaced lines and holds take the place of. */
function replacedRowDeletes(effects: Effects): BulkWrite[] {
  const holds_of = effects.holds_replaced.map((replaced) => replaced.order_id);
  assert(
    holds_of.every((id) => !effects.holds_released.includes(id)),
    'an order whose holds are replaced is not also released',
  );
  return [
    {
      kind: 'delete',
      table: 'order_lines',
      column: 'order_id',
      type: 'text',
      values: effects.order_lines_replaced.map((replaced) => replaced.order_id),
    },
    { kind: 'delete', table: 'holds', column: 'order_id', type: 'text', values: holds_of },
    // A deleted SKU goes with its ledger (its creation alone); a SKU of the same id created later in
    // the transaction is inserted after this.
    { kind: 'delete', table: 'ledger', column: 'sku', type: 'text', values: effects.skus_deleted },
    { kind: 'delete', table: 'skus', column: 'sku', type: 'text', values: effects.skus_deleted },
  ];
}

/** Every other write of the effects, by kind, then `extra`, and the outbox last. */
function effectWrites(effects: Effects, extra: readonly BulkWrite[]): BulkWrite[] {
  const lines = [
    ...effects.orders_created.map((order) => ({ order_id: order.id, lines: order.lines })),
    ...effects.order_lines_replaced,
  ];
  const holds = [...effects.holds_placed, ...effects.holds_replaced.flatMap((replaced) => replaced.holds)];
  return [
    {
      kind: 'insert',
      table: 'skus',
      columns: SKU_COLUMNS,
      rows: effects.skus_created.map((sku) => valuesOf(SKU_COLUMNS, skuRow(sku))),
    },
    {
      kind: 'update',
      table: 'skus',
      columns: SKU_UPDATE_COLUMNS,
      rows: effects.skus_changed.map((sku) => valuesOf(SKU_UPDATE_COLUMNS, sku)),
    },
    {
      kind: 'update',
      table: 'skus',
      columns: SKU_FIELD_UPDATE_COLUMNS,
      rows: effects.skus_updated.map((sku) => valuesOf(SKU_FIELD_UPDATE_COLUMNS, skuRow(sku))),
    },
    {
      kind: 'insert',
      table: 'orders',
      columns: ORDER_COLUMNS,
      rows: effects.orders_created.map((order) => valuesOf(ORDER_COLUMNS, orderRow(order))),
    },
    {
      kind: 'insert',
      table: 'order_lines',
      columns: ORDER_LINE_COLUMNS,
      rows: lines.flatMap(({ order_id, lines }) =>
        lines.map((line, line_no) => [order_id, line_no, line.sku, line.quantity]),
      ),
    },
    {
      kind: 'insert',
      table: 'holds',
      columns: HOLD_COLUMNS,
      rows: holds.map((hold) => [hold.order_id, hold.sku, hold.quantity, hold.expires_at_ms]),
    },
    {
      kind: 'update',
      table: 'orders',
      columns: ORDER_CHANGE_COLUMNS,
      rows: effects.orders_changed.map((order) => valuesOf(ORDER_CHANGE_COLUMNS, orderRow(order))),
    },
    { kind: 'delete', table: 'holds', column: 'order_id', type: 'text', values: effects.holds_released },
    {
      kind: 'insert',
      table: 'order_sold_lines',
      columns: ORDER_SOLD_LINE_COLUMNS,
      rows: effects.sold_lines_placed.flatMap(({ order_id, lines }) =>
        lines.map((line) => [order_id, line.sku, line.quantity]),
      ),
    },
    {
      kind: 'insert',
      table: 'order_returns',
      columns: ORDER_RETURN_COLUMNS,
      rows: effects.returns_recorded.flatMap(({ order_id, return_no, record }) =>
        record.lines.map((line, line_no) => [
          order_id,
          return_no,
          line_no,
          line.sku,
          line.quantity,
          record.restock ? 1 : 0,
          record.at_ms,
          record.reason,
        ]),
      ),
    },
    {
      kind: 'update',
      table: 'holds',
      columns: HOLD_RESCHEDULE_COLUMNS,
      rows: effects.holds_rescheduled.map((rescheduled) => valuesOf(HOLD_RESCHEDULE_COLUMNS, rescheduled)),
    },
    {
      kind: 'insert',
      table: 'ledger',
      columns: LEDGER_COLUMNS,
      rows: effects.ledger.map((entry) => valuesOf(LEDGER_COLUMNS, entry)),
    },
    ...dropWrites(effects),
    ...extra,
    outboxWrite(effects.events),
  ];
}

/** New drops, and the tickets checkouts used. */
function dropWrites(effects: Effects): BulkWrite[] {
  return [
    {
      kind: 'insert',
      table: 'drops',
      columns: DROP_COLUMNS,
      rows: effects.drops_created.map((drop) => valuesOf(DROP_COLUMNS, dropRow(drop))),
    },
    {
      kind: 'update',
      table: 'drop_tickets',
      columns: TICKET_USE_COLUMNS,
      rows: effects.tickets_used.map((ticket) => valuesOf(TICKET_USE_COLUMNS, ticketRow(ticket))),
    },
  ];
}

/**
 * The events, last. On PostgreSQL an identity value is taken at INSERT, not at COMMIT, so two
 * writers could commit their events out of id order and a reader of "events after id N" would skip
 * the smaller id for good. A transaction-scoped advisory lock taken just before the outbox rows get
 * their ids (and held to COMMIT) makes id order equal commit order; it is taken after every other
 * lock, so it cannot take part in a deadlock, and it only serialises the end of event-writing
 * transactions (group commit keeps those few). SQLite has one writer: ids are already in commit order.
 */
function outboxWrite(events: Effects['events']): BulkWrite {
  return {
    kind: 'insert',
    table: 'outbox',
    columns: OUTBOX_COLUMNS,
    rows: events.map((event) => [event.type, event.subject_id, JSON.stringify(event.data), event.at_ms]),
    advisory_lock: OUTBOX_LOCK_KEY,
  };
}

/** The result of the command at `index`, once it has one. */
function resultAt(results: readonly (CommandResult | undefined)[], index: number): CommandResult {
  const result = results[index];
  assert(result !== undefined, `command ${index} has a result`);
  return result;
}

/** The command of a valid envelope, by its index. */
function commandAt(envelopes: readonly CommandEnvelope[], index: number): Command {
  const envelope = envelopes[index];
  assert(envelope !== undefined, `envelope ${index} exists`);
  return envelope.command;
}

function refusal(error: StockholdError): Outcome {
  return { ok: false, error: error.toBody() as ErrorBody };
}

function keyReused(): StockholdError {
  return new StockholdError(
    'idempotency_key_reused',
    'this Idempotency-Key was used with another request; use a new key for a new request',
  );
}

function skusOfOrders(workspace: Workspace, order_ids: readonly string[]): string[] {
  return order_ids.flatMap((id) => workspace.orders.get(id)?.lines.map((line) => line.sku) ?? []);
}

function skuFromRow(row: SkusTable): SkuState {
  const decoded = decodeRow(SKU_COLUMNS, row);
  return { ...decoded, archived: decoded.archived === 1 };
}

function skuRow(sku: SkuState): SkusTable {
  return { ...sku, archived: sku.archived ? 1 : 0, drop_id: sku.drop_id ?? null };
}

function ledgerEntryFromRow(row: LedgerTable): LedgerEntry {
  return { ...decodeRow(LEDGER_COLUMNS, row), kind: row.kind as MovementKind };
}

function orderFromRow(row: OrdersTable, lines: { sku: string; quantity: number }[]): OrderState {
  return {
    id: row.id,
    customer_id: row.customer_id,
    status: row.status as OrderStatus,
    lines,
    created_at_ms: Number(row.created_at_ms),
    expires_at_ms: Number(row.expires_at_ms),
    paid_at_ms: row.paid_at_ms === null ? null : Number(row.paid_at_ms),
    payment_id: row.payment_id,
    late: Number(row.late) === 1,
    closed_at_ms: row.closed_at_ms === null ? null : Number(row.closed_at_ms),
    api_key_id: row.api_key_id ?? null,
    extensions: Number(row.extensions),
    changes: Number(row.changes),
  };
}

function orderRow(order: OrderState): OrdersTable {
  return {
    id: order.id,
    customer_id: order.customer_id,
    status: order.status,
    created_at_ms: order.created_at_ms,
    expires_at_ms: order.expires_at_ms,
    paid_at_ms: order.paid_at_ms,
    payment_id: order.payment_id,
    late: order.late ? 1 : 0,
    closed_at_ms: order.closed_at_ms,
    api_key_id: order.api_key_id ?? null,
    extensions: order.extensions ?? 0,
    changes: order.changes ?? 0,
  };
}
