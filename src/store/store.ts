// The one store interface. Each database implements it (src/store/sqlite, src/store/postgres); the
// HTTP layer, the sweeper and the CLI only ever see this.
import type { AuditReport } from '../core/audit.ts';
import type { CommandValue } from '../core/commands.ts';
import type { ErrorBody } from '../core/errors.ts';
import type { Command, DomainEvent, LedgerEntry, OrderState, OrderStatus, SkuState } from '../core/types.ts';
import type { DialectName } from './dialects.ts';

export interface Idempotency {
  key: string;
  /** Hash of what the request asks for; the same key with another fingerprint is refused. */
  fingerprint: string;
}

export interface CommandEnvelope {
  command: Command;
  idempotency?: Idempotency;
}

/** What a command came to; stored under its idempotency key and returned again on replay. */
export type Outcome = { ok: true; value: CommandValue } | { ok: false; error: ErrorBody };

export interface CommandResult {
  outcome: Outcome;
  /** True when the outcome is the stored answer of an earlier request with the same key. */
  replayed: boolean;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface OrderFilter {
  status?: OrderStatus;
  sku?: string;
  customer_id?: string;
  limit: number;
  /** Orders with an id below this one (ids sort by creation time). */
  before_id?: string;
}

export interface StoredEvent extends DomainEvent {
  id: number;
}

export interface Store {
  readonly dialect: DialectName;
  migrate(): Promise<string[]>;
  /** Decides and commits the commands in one transaction, in order; one result per command. */
  execute(envelopes: readonly CommandEnvelope[], now_ms: number): Promise<CommandResult[]>;
  /**
   * Decides and writes the commands as execute does, in a transaction that is then rolled back:
   * throws what execute would throw, commits nothing (the group commit finds a culprit with it).
   */
  rehearse(envelopes: readonly CommandEnvelope[], now_ms: number): Promise<void>;
  /** Expires up to `limit` pending orders whose deadline passed; returns how many. */
  sweepExpired(now_ms: number, limit: number): Promise<number>;
  /** Forgets idempotency keys created before the given time; returns how many. */
  purgeIdempotencyKeys(created_before_ms: number): Promise<number>;
  getSku(sku: string): Promise<SkuState | null>;
  /** SKUs by id after `after_sku`; archived ones only `with_archived` (then with the others). */
  listSkus(limit: number, after_sku?: string, with_archived?: boolean): Promise<SkuState[]>;
  getOrder(id: string): Promise<OrderState | null>;
  listOrders(filter: OrderFilter): Promise<OrderState[]>;
  /**
   * A SKU's movements in seq order, oldest first (or newest first), from beyond `beyond_seq` in that
   * direction: after it oldest first, before it newest first.
   */
  ledger(sku: string, limit: number, beyond_seq?: number, newest_first?: boolean): Promise<LedgerEntry[]>;
  /**
   * Every movement of one order, all its SKUs, by sku then seq; empty for an unknown order. Not
   * paged: at most LIMITS.order_ledger_entries_max entries.
   */
  orderLedger(order_id: string): Promise<LedgerEntry[]>;
  eventsAfter(after_id: number, limit: number): Promise<StoredEvent[]>;
  lastEventId(): Promise<number>;
  /** Recomputes every SKU from the ledger, holds and orders and checks every invariant. */
  audit(): Promise<AuditReport>;
  /** Throws when the database cannot answer or is not migrated. */
  checkReady(): Promise<void>;
  close(): Promise<void>;
}
