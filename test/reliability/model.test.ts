// Model-based test: seeded random sequences of every command (create, restock/adjust with and without
// expected_available, multi-line checkout with repeated SKUs, pay in time / late / replayed, cancel,
// clock moves to and past deadlines, sweep, idempotent replays with the same and another body) run
// against the real store and against a small reference model written from DESIGN.md alone. After every
// step the service's answer and every bucket must equal the model's; every few steps the store's audit
// runs, and at the end of each run `verify`'s deep walk (ledger chains, each order's movements).
// The life of a SKU (issue 23) is in the mix: field changes and archiving (compare-and-set on the
// version), ERP counts, deletes; the model counts each SKU's version as one per movement it makes.
// Some steps are bursts: several commands decided in one transaction (group commit), which must
// answer exactly as if they had run one after the other.
//
// The rest of a hold's life (issue 23) is in the mix: extensions against both caps, changes of a
// held order's lines, partial captures (also late), and returns restocked or written off.
//
// Drops (issue 24, docs/drops.md) are in the mix: create_drop (and its refusals), joins, admission
// passes (the model's own rate, pause and sold-out release), checkouts with and without the
// customer's admission token, changes of an order under a drop. The pre-queue's random positions are
// the one thing the model cannot foresee: it checks they are a permutation of the next positions and
// takes them. After each step that may move them, every drop's line and ticket must equal the model's.
//
// Replay a failure: STOCKHOLD_MODEL_SEED=<seed printed> (and STOCKHOLD_MODEL_RUNS=1 to run only it).
// Longer soak: STOCKHOLD_MODEL_RUNS, STOCKHOLD_MODEL_STEPS, STOCKHOLD_MODEL_PG_RUNS.
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
import type { TicketState } from '../../src/core/drops.ts';
import { StockholdError } from '../../src/core/errors.ts';
import type { Command, OrderLine } from '../../src/core/types.ts';
import { CommandQueue } from '../../src/store/command-queue.ts';
import type { KyselyStore } from '../../src/store/kysely-store.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore, SQLITE_MEMORY } from '../../src/store/sqlite/sqlite-store.ts';
import type { CommandEnvelope, CommandResult } from '../../src/store/store.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { envCount, expectVerified, reportFigure, seededRandom } from './support.ts';

// ---------------------------------------------------------------------------------------------
// The reference model: plain maps, one obvious rule per command, no code shared with src/core.

interface ModelSku {
  available: number;
  on_hold: number;
  sold: number;
  /** Sum of every adjustment, creation included: what the three buckets must add up to. */
  total: number;
  max_per_customer: number | null;
  low_stock_threshold: number | null;
  archived: boolean;
  /** One per movement of the SKU (creation, adjustment, count, change, and each order's moves). */
  version: number;
}

type ModelStatus = 'pending_payment' | 'paid' | 'cancelled' | 'expired';

interface ModelOrder {
  id: string;
  customer_id: string;
  lines: OrderLine[];
  status: ModelStatus;
  expires_at_ms: number;
  payment_id: string | null;
  late: boolean;
  created_at_ms: number;
  extensions: number;
  changes: number;
  /** Once paid: units sold per SKU. */
  sold: Map<string, number>;
  /** Units returned per SKU (restocked or written off), and how many returns. */
  returned: Map<string, number>;
  returns: number;
}

/** A drop (docs/drops.md): its SKUs behind a line from starts_at, admitted at a rate. */
interface ModelDrop {
  id: string;
  skus: string[];
  starts_at_ms: number;
  ends_at_ms: number | null;
  rate: number;
  admission_seconds: number;
  max_per_customer: number | null;
  sold_out_at_ms: number | null;
  /** Whether the tickets taken before the start have their positions. */
  positioned: boolean;
  /** The last position handed out. */
  next_position: number;
  /** Every position up to here was admitted (or released as sold out). */
  admitted_through: number;
  /** Admissions are due at the rate from this moment on. */
  due_from_ms: number;
}

type ModelTicketStatus = 'waiting' | 'admitted' | 'used' | 'expired' | 'sold_out';

interface ModelTicket {
  drop_id: string;
  customer_id: string;
  joined_at_ms: number;
  position: number | null;
  /** As stored: an admission past its lapse stays `admitted` until an admission pass expires it. */
  status: ModelTicketStatus;
  /** The secret the store drew; the model only keeps it, to present it at checkout. */
  token: string;
  admitted_at_ms: number | null;
  expires_at_ms: number | null;
  order_id: string | null;
}

/** What one admission pass did to one running drop. */
interface ModelAdmission {
  drop_id: string;
  admitted: number;
  waits_ms: number[];
  expired: number;
  sold_out: boolean;
  waiting: number;
}

/**
 * The one number of admission docs/drops.md does not give: a pass admits at most this far behind
 * the clock, so neither a pause nor an idle admitter banks a burst.
 */
const ADMISSION_CATCH_UP_MS = 1_000;

const ticketKey = (drop_id: string, customer_id: string) => `${drop_id}/${customer_id}`;

/** The caps the model's extensions run against (HOLD_EXTENSIONS_MAX, HOLD_SECONDS_TOTAL_MAX). */
const EXTENSIONS_MAX = 2;
const HOLD_SECONDS_TOTAL_MAX = 150;
/** LIMITS.order_changes_max and order_returns_max, as DESIGN-level numbers. */
const CHANGES_MAX = 10;
const RETURNS_MAX = 10;

type Expected =
  | { ok: true; sku: string; buckets: Omit<ModelSku, 'total'> }
  | { ok: true; order: ModelOrder }
  | { ok: true; drop: ModelDrop; status: string }
  | { ok: false; code: string };

const HOLD = 'pending_payment';

class Model {
  readonly skus = new Map<string, ModelSku>();
  readonly orders = new Map<string, ModelOrder>();
  /** Idempotency key -> the fingerprint that claimed it and the service's first answer. */
  readonly keys = new Map<string, { fingerprint: string; first: CommandResult['outcome'] }>();
  /** Each SKU's name, apart from the buckets the answers compare. */
  readonly names = new Map<string, string>();
  readonly drops = new Map<string, ModelDrop>();
  /** The drop each SKU was last put in (a SKU is in at most one live drop). */
  readonly sku_drop = new Map<string, string>();
  readonly tickets = new Map<string, ModelTicket>();
  /**
   * The positions the store gave the pre-queue, by ticket key: the one random choice of drops, which
   * the model cannot foresee. It checks they are a permutation of the next positions and takes them.
   */
  observed_positions = new Map<string, number | null>();

  constructor(public now_ms: number) {}

  private skuAnswer(sku: string): Expected {
    const { total: _total, ...buckets } = this.skus.get(sku)!;
    return { ok: true, sku, buckets };
  }

  private orderAnswer(order: ModelOrder): Expected {
    return {
      ok: true,
      order: { ...order, lines: order.lines.map((line) => ({ ...line })), sold: new Map(order.sold) },
    };
  }

  private perSku(lines: OrderLine[]): Map<string, number> {
    const totals = new Map<string, number>();
    for (const line of lines) totals.set(line.sku, (totals.get(line.sku) ?? 0) + line.quantity);
    return totals;
  }

  /** Each SKU of the lines moved once more (the ledger entry a movement writes). */
  private moved(totals: Map<string, number>): void {
    for (const sku of totals.keys()) this.skus.get(sku)!.version += 1;
  }

  /** A pending order past its deadline gives its units back. */
  private expire(order: ModelOrder): void {
    for (const [sku, quantity] of this.perSku(order.lines)) {
      const s = this.skus.get(sku)!;
      s.on_hold -= quantity;
      s.available += quantity;
      s.version += 1;
    }
    order.status = 'expired';
  }

  private isOverdue(order: ModelOrder): boolean {
    return order.status === HOLD && this.now_ms >= order.expires_at_ms;
  }

  /** The limits of DESIGN.md, checked before anything else (invalid_request, nothing stored). */
  isInvalid(command: Command): boolean {
    const sku_ok = (sku: string) => /^[A-Za-z0-9._-]{1,64}$/.test(sku);
    switch (command.kind) {
      case 'create_drop':
        return (
          !sku_ok(command.drop_id) ||
          command.drop_id === '.' ||
          command.drop_id === '..' ||
          command.skus.length < 1 ||
          command.skus.length > 50 ||
          !command.skus.every(sku_ok) ||
          new Set(command.skus).size !== command.skus.length ||
          (command.ends_at_ms !== null && command.ends_at_ms <= command.starts_at_ms) ||
          command.admission_per_second < 1 ||
          command.admission_per_second > 10_000 ||
          command.admission_seconds < 10 ||
          command.admission_seconds > 86_400 ||
          (command.max_per_customer !== null && command.max_per_customer < 1)
        );
      case 'create_sku':
        return !sku_ok(command.sku);
      case 'adjust':
        return (
          command.delta === 0 ||
          !sku_ok(command.sku) ||
          (command.expected_available !== null && command.expected_available < 0)
        );
      case 'checkout':
        return (
          command.lines.length === 0 ||
          command.lines.length > 100 ||
          command.hold_seconds < 1 ||
          command.hold_seconds > 86_400 ||
          (command.admission_token != null &&
            (command.admission_token.length < 1 || command.admission_token.length > 128)) ||
          command.lines.some((line) => line.quantity < 1 || line.quantity > 1_000_000 || !sku_ok(line.sku))
        );
      case 'pay':
        return command.payment_id.length === 0 || (command.lines != null && !linesOk(command.lines));
      case 'cancel':
        return false;
      case 'extend':
        return command.seconds < 1 || command.seconds > 86_400;
      case 'change_order':
      case 'return':
        return !linesOk(command.lines);
      case 'update_sku':
        return (
          !sku_ok(command.sku) ||
          (command.name === undefined &&
            command.max_per_customer === undefined &&
            command.low_stock_threshold === undefined &&
            command.archived === undefined)
        );
      case 'count':
        return !sku_ok(command.sku) || command.unsold < 0;
      case 'delete_sku':
        return !sku_ok(command.sku);
    }
  }

  /** PATCH: compare-and-set on the version, then each given field; a change is one movement. */
  private updateSku(command: Extract<Command, { kind: 'update_sku' }>): Expected {
    const sku = this.skus.get(command.sku);
    if (!sku) return { ok: false, code: 'sku_not_found' };
    if (command.expected_version !== null && command.expected_version !== sku.version)
      return { ok: false, code: 'version_conflict' };
    let changed = false;
    for (const field of ['name', 'max_per_customer', 'low_stock_threshold', 'archived'] as const) {
      const value = command[field];
      if (value === undefined || field === 'name') continue;
      if ((sku as unknown as Record<string, unknown>)[field] !== value) changed = true;
      (sku as unknown as Record<string, unknown>)[field] = value;
    }
    if (command.name !== undefined && command.name !== this.names.get(command.sku)) {
      this.names.set(command.sku, command.name);
      changed = true;
    }
    if (changed) sku.version += 1;
    return this.skuAnswer(command.sku);
  }

  /** An ERP count: available becomes unsold - on_hold, never below the holds. */
  private count(command: Extract<Command, { kind: 'count' }>): Expected {
    const sku = this.skus.get(command.sku);
    if (!sku) return { ok: false, code: 'sku_not_found' };
    if (command.expected_version !== null && command.expected_version !== sku.version)
      return { ok: false, code: 'version_conflict' };
    if (command.unsold < sku.on_hold) return { ok: false, code: 'count_below_holds' };
    const delta = command.unsold - sku.on_hold - sku.available;
    sku.available += delta;
    sku.total += delta;
    sku.version += 1;
    return this.skuAnswer(command.sku);
  }

  /** A delete: only of a SKU whose one movement is its creation. */
  private deleteSku(command: Extract<Command, { kind: 'delete_sku' }>): Expected {
    const sku = this.skus.get(command.sku);
    if (!sku) return { ok: false, code: 'sku_not_found' };
    if (sku.version !== 1) return { ok: false, code: 'sku_in_use' };
    // A drop names its SKUs for good: such a SKU is archived, not deleted.
    if (this.sku_drop.has(command.sku)) return { ok: false, code: 'sku_in_use' };
    const answer = this.skuAnswer(command.sku);
    this.skus.delete(command.sku);
    return answer;
  }

  // Drops (docs/drops.md).

  phase(drop: ModelDrop): 'open' | 'running' | 'sold_out' | 'over' {
    if (drop.sold_out_at_ms !== null) return 'sold_out';
    if (drop.ends_at_ms !== null && this.now_ms >= drop.ends_at_ms) return 'over';
    return this.now_ms < drop.starts_at_ms ? 'open' : 'running';
  }

  /** The drop that governs the SKU now (open or running), if any. */
  liveDrop(sku: string): ModelDrop | undefined {
    const id = this.sku_drop.get(sku);
    const drop = id === undefined ? undefined : this.drops.get(id);
    if (drop === undefined) return undefined;
    const phase = this.phase(drop);
    return phase === 'open' || phase === 'running' ? drop : undefined;
  }

  private createDrop(command: Extract<Command, { kind: 'create_drop' }>): Expected {
    if (this.drops.has(command.drop_id)) return { ok: false, code: 'drop_exists' };
    if (command.skus.some((sku) => !this.skus.has(sku))) return { ok: false, code: 'sku_not_found' };
    if (command.skus.some((sku) => this.liveDrop(sku))) return { ok: false, code: 'sku_in_drop' };
    const drop: ModelDrop = {
      id: command.drop_id,
      skus: [...command.skus],
      starts_at_ms: command.starts_at_ms,
      ends_at_ms: command.ends_at_ms,
      rate: command.admission_per_second,
      admission_seconds: command.admission_seconds,
      max_per_customer: command.max_per_customer,
      sold_out_at_ms: null,
      positioned: false,
      next_position: 0,
      admitted_through: 0,
      due_from_ms: command.starts_at_ms,
    };
    this.drops.set(drop.id, drop);
    // Putting a SKU in a drop moves no unit: its version stays.
    for (const sku of drop.skus) this.sku_drop.set(sku, drop.id);
    return { ok: true, drop: { ...drop, skus: [...drop.skus] }, status: this.phase(drop) };
  }

  /** The customer's ticket: the one they have, or a new one (positioned once the drop runs). */
  join(
    drop_id: string,
    customer_id: string,
  ): { ok: true; created: boolean; ticket: ModelTicket } | { ok: false; code: string } {
    const drop = this.drops.get(drop_id);
    if (!drop) return { ok: false, code: 'drop_not_found' };
    const found = this.tickets.get(ticketKey(drop_id, customer_id));
    if (found) return { ok: true, created: false, ticket: found };
    const phase = this.phase(drop);
    if (phase === 'sold_out' || phase === 'over') return { ok: false, code: 'drop_closed' };
    let position: number | null = null;
    if (drop.positioned || phase === 'running') {
      if (!drop.positioned) this.positionLine(drop);
      drop.next_position += 1;
      position = drop.next_position;
    }
    const ticket: ModelTicket = {
      drop_id,
      customer_id,
      joined_at_ms: this.now_ms,
      position,
      status: 'waiting',
      token: '',
      admitted_at_ms: null,
      expires_at_ms: null,
      order_id: null,
    };
    this.tickets.set(ticketKey(drop_id, customer_id), ticket);
    return { ok: true, created: true, ticket };
  }

  /** At the start, the tickets taken so far get positions 1..N in the store's random order. */
  private positionLine(drop: ModelDrop): void {
    const line = [...this.tickets.values()].filter((t) => t.drop_id === drop.id && t.position === null);
    const taken = line.map((t) => this.observed_positions.get(ticketKey(t.drop_id, t.customer_id)) ?? null);
    const expected = line.map((_, i) => drop.next_position + i + 1);
    const sorted = [...taken].sort((a, b) => (a ?? 0) - (b ?? 0));
    if (!isDeepStrictEqual(sorted, expected)) {
      expect(sorted, `the pre-queue of ${drop.id} is not a permutation of its next positions`).toEqual(
        expected,
      );
    }
    line.forEach((t, i) => {
      t.position = taken[i] ?? null;
    });
    drop.next_position += line.length;
    drop.positioned = true;
  }

  /**
   * One admission pass: for each running drop in id order, the line is positioned at the start,
   * lapsed admissions expire, then: every SKU sold with nothing held releases the line as sold out;
   * no unit available beyond the open admissions pauses (banking nothing); else the positions due at
   * the rate are admitted, at most one per such unit.
   */
  admit(): ModelAdmission[] {
    const reports: ModelAdmission[] = [];
    const by_id = [...this.drops.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    for (const drop of by_id) {
      if (this.phase(drop) !== 'running') continue;
      if (!drop.positioned) this.positionLine(drop);
      const line = [...this.tickets.values()].filter((t) => t.drop_id === drop.id);
      const report: ModelAdmission = {
        drop_id: drop.id,
        admitted: 0,
        waits_ms: [],
        expired: 0,
        sold_out: false,
        waiting: 0,
      };
      for (const t of line) {
        if (t.status === 'admitted' && this.now_ms >= t.expires_at_ms!) {
          t.status = 'expired';
          report.expired += 1;
        }
      }
      const skus = drop.skus.flatMap((id) => this.skus.get(id) ?? []);
      // Admission never outruns the stock: the units available beyond one for each open admission.
      const open_admissions = line.filter((t) => t.status === 'admitted').length;
      const open_units = skus.reduce((sum, sku) => sum + sku.available, 0) - open_admissions;
      if (skus.every((sku) => sku.available === 0 && sku.on_hold === 0)) {
        for (const t of line) if (t.status === 'waiting') t.status = 'sold_out';
        drop.sold_out_at_ms = this.now_ms;
        drop.admitted_through = drop.next_position;
        report.sold_out = true;
      } else if (open_units <= 0) {
        drop.due_from_ms = this.now_ms;
        report.waiting = drop.next_position - drop.admitted_through;
      } else {
        const from_ms = Math.max(drop.due_from_ms, drop.starts_at_ms, this.now_ms - ADMISSION_CATCH_UP_MS);
        const due = Math.max(0, Math.floor(((this.now_ms - from_ms) * drop.rate) / 1000));
        const admitted = Math.min(due, drop.next_position - drop.admitted_through, open_units);
        // A line or stock that ran short banks nothing either; otherwise what was admitted is paid for.
        drop.due_from_ms = admitted < due ? this.now_ms : from_ms + Math.floor((admitted * 1000) / drop.rate);
        const through = drop.admitted_through + admitted;
        for (const t of line) {
          if (t.position === null || t.position <= drop.admitted_through || t.position > through) continue;
          t.status = 'admitted';
          t.admitted_at_ms = this.now_ms;
          t.expires_at_ms = this.now_ms + drop.admission_seconds * 1000;
          report.waits_ms.push(this.now_ms - Math.max(t.joined_at_ms, drop.starts_at_ms));
        }
        report.admitted = report.waits_ms.length;
        drop.admitted_through = through;
        report.waiting = drop.next_position - through;
      }
      reports.push(report);
    }
    return reports;
  }

  /**
   * The gate of a checkout (an admission token) or a change (the order that used the admission) for
   * the live drops of the SKUs of `totals`: the refusal, or the admitted tickets a checkout uses.
   */
  private dropGate(
    customer_id: string,
    totals: Map<string, number>,
    admission: { token: string | null; order_id: string | null },
  ): { ok: false; code: string } | ModelTicket[] {
    const units = new Map<ModelDrop, number>();
    for (const [sku, quantity] of totals) {
      const drop = this.liveDrop(sku);
      if (drop) units.set(drop, (units.get(drop) ?? 0) + quantity);
    }
    const used: ModelTicket[] = [];
    for (const [drop, quantity] of units) {
      if (this.phase(drop) === 'open') return { ok: false, code: 'drop_not_started' };
      const ticket = this.tickets.get(ticketKey(drop.id, customer_id));
      if (!ticket) return { ok: false, code: 'admission_required' };
      if (admission.order_id !== null) {
        if (ticket.order_id !== admission.order_id) return { ok: false, code: 'admission_required' };
      } else {
        if (admission.token !== ticket.token) return { ok: false, code: 'admission_required' };
        const lapsed = ticket.status === 'admitted' && this.now_ms >= ticket.expires_at_ms!;
        if (ticket.status === 'expired' || lapsed) return { ok: false, code: 'admission_expired' };
        if (ticket.status !== 'admitted') return { ok: false, code: 'admission_required' };
        used.push(ticket);
      }
      if (drop.max_per_customer !== null && quantity > drop.max_per_customer) {
        tallyDropCase("over the drop's max_per_customer");
        return { ok: false, code: 'limit_exceeded' };
      }
    }
    return used;
  }

  decide(command: Command): Expected {
    if (this.isInvalid(command)) return { ok: false, code: 'invalid_request' };
    switch (command.kind) {
      case 'create_drop':
        return this.createDrop(command);
      case 'create_sku': {
        if (this.skus.has(command.sku)) return { ok: false, code: 'sku_exists' };
        this.skus.set(command.sku, {
          available: command.available,
          on_hold: 0,
          sold: 0,
          total: command.available,
          max_per_customer: command.max_per_customer,
          low_stock_threshold: null,
          archived: false,
          version: 1,
        });
        this.names.set(command.sku, command.name);
        return this.skuAnswer(command.sku);
      }
      case 'update_sku':
        return this.updateSku(command);
      case 'count':
        return this.count(command);
      case 'delete_sku':
        return this.deleteSku(command);
      case 'adjust': {
        const sku = this.skus.get(command.sku);
        if (!sku) return { ok: false, code: 'sku_not_found' };
        if (command.expected_available !== null && command.expected_available !== sku.available) {
          return { ok: false, code: 'version_conflict' };
        }
        if (sku.available + command.delta < 0) return { ok: false, code: 'insufficient_stock' };
        sku.available += command.delta;
        sku.total += command.delta;
        sku.version += 1;
        return this.skuAnswer(command.sku);
      }
      case 'checkout':
        return this.checkout(command);
      case 'pay':
        return this.pay(command);
      case 'extend':
        return this.extend(command);
      case 'change_order':
        return this.change(command);
      case 'return':
        return this.giveBack(command);
      case 'cancel': {
        const order = this.orders.get(command.order_id);
        if (!order) return { ok: false, code: 'order_not_found' };
        if (this.isOverdue(order)) this.expire(order);
        if (order.status === 'cancelled') return this.orderAnswer(order);
        if (order.status === 'paid') return { ok: false, code: 'order_paid' };
        if (order.status === 'expired') return { ok: false, code: 'order_expired' };
        for (const [sku, quantity] of this.perSku(order.lines)) {
          this.skus.get(sku)!.on_hold -= quantity;
          this.skus.get(sku)!.available += quantity;
        }
        this.moved(this.perSku(order.lines));
        order.status = 'cancelled';
        return this.orderAnswer(order);
      }
    }
  }

  private pay(command: Extract<Command, { kind: 'pay' }>): Expected {
    const order = this.orders.get(command.order_id);
    if (!order) return { ok: false, code: 'order_not_found' };
    if (this.isOverdue(order)) this.expire(order);
    if (order.status === 'paid') {
      return order.payment_id === command.payment_id
        ? this.orderAnswer(order)
        : { ok: false, code: 'already_paid' };
    }
    if (order.status === 'cancelled') return { ok: false, code: 'order_cancelled' };
    const held = this.perSku(order.lines);
    const totals = command.lines ? this.perSku(command.lines) : held;
    for (const [sku, quantity] of totals) {
      if (quantity > (held.get(sku) ?? 0)) return { ok: false, code: 'capture_exceeds_hold' };
    }
    if (order.status === 'expired') {
      // Late payment: within the customer's limits (as a new checkout would be) and with every
      // unit captured available again, or nothing happens.
      for (const [sku, quantity] of totals) {
        const limit = this.skus.get(sku)!.max_per_customer;
        if (limit !== null && this.customerUnits(order.customer_id, sku) + quantity > limit)
          return { ok: false, code: 'order_expired' };
      }
      for (const [sku, quantity] of totals) {
        if (this.skus.get(sku)!.available < quantity) return { ok: false, code: 'order_expired' };
      }
      for (const [sku, quantity] of totals) {
        this.skus.get(sku)!.available -= quantity;
        this.skus.get(sku)!.sold += quantity;
      }
      this.moved(totals);
      order.late = true;
    } else {
      for (const [sku, quantity] of held) {
        const sold = totals.get(sku) ?? 0;
        const s = this.skus.get(sku)!;
        s.on_hold -= quantity;
        s.sold += sold;
        s.available += quantity - sold;
        // A payment movement for what is sold, a release for the rest: one version each.
        s.version += (sold > 0 ? 1 : 0) + (quantity - sold > 0 ? 1 : 0);
      }
    }
    order.status = 'paid';
    order.payment_id = command.payment_id;
    order.sold = new Map([...totals].filter(([, quantity]) => quantity > 0));
    return this.orderAnswer(order);
  }

  /** A pending order in time, or the refusal of its state (a lapsed hold is expired first). */
  private held(order_id: string): ModelOrder | { ok: false; code: string } {
    const order = this.orders.get(order_id);
    if (!order) return { ok: false, code: 'order_not_found' };
    if (this.isOverdue(order)) this.expire(order);
    if (order.status === 'paid') return { ok: false, code: 'order_paid' };
    if (order.status === 'cancelled') return { ok: false, code: 'order_cancelled' };
    if (order.status === 'expired') return { ok: false, code: 'order_expired' };
    return order;
  }

  private extend(command: Extract<Command, { kind: 'extend' }>): Expected {
    const order = this.held(command.order_id);
    if ('ok' in order) return order;
    const expires_at_ms = order.expires_at_ms + command.seconds * 1000;
    if (
      order.extensions >= command.extensions_max ||
      expires_at_ms > order.created_at_ms + command.hold_seconds_total_max * 1000
    ) {
      return { ok: false, code: 'extension_limit' };
    }
    order.expires_at_ms = expires_at_ms;
    order.extensions += 1;
    return this.orderAnswer(order);
  }

  private change(command: Extract<Command, { kind: 'change_order' }>): Expected {
    const order = this.held(command.order_id);
    if ('ok' in order) return order;
    if (order.changes >= CHANGES_MAX) return { ok: false, code: 'limit_exceeded' };
    const totals = this.perSku(command.lines);
    for (const sku of totals.keys()) if (!this.skus.has(sku)) return { ok: false, code: 'sku_not_found' };
    const before = this.perSku(order.lines);
    for (const [sku, quantity] of totals) {
      const limit = this.skus.get(sku)!.max_per_customer;
      if (limit === null) continue;
      const others = this.customerUnits(order.customer_id, sku) - (before.get(sku) ?? 0);
      if (others + quantity > limit) return { ok: false, code: 'limit_exceeded' };
    }
    // An archived SKU takes no new holds: a change may keep or lower its units, never add any.
    for (const [sku, quantity] of totals) {
      if (quantity > (before.get(sku) ?? 0) && this.skus.get(sku)!.archived)
        return { ok: false, code: 'sku_archived' };
    }
    // A live drop's SKU may grow only in the order that used the customer's admission.
    if ([...totals].some(([sku, quantity]) => quantity > (before.get(sku) ?? 0) && this.liveDrop(sku))) {
      const gate = this.dropGate(order.customer_id, totals, { token: null, order_id: order.id });
      if ('code' in gate) return gate;
    }
    const short = () =>
      [...totals].filter(
        ([sku, quantity]) => this.skus.get(sku)!.available < quantity - (before.get(sku) ?? 0),
      );
    const short_skus = new Set(short().map(([sku]) => sku));
    if (short_skus.size > 0) {
      for (const other of this.orders.values()) {
        if (this.isOverdue(other) && other.lines.some((line) => short_skus.has(line.sku))) this.expire(other);
      }
      if (short().length > 0) return { ok: false, code: 'insufficient_stock' };
    }
    for (const sku of new Set([...before.keys(), ...totals.keys()])) {
      const delta = (totals.get(sku) ?? 0) - (before.get(sku) ?? 0);
      const s = this.skus.get(sku)!;
      s.available -= delta;
      s.on_hold += delta;
      if (delta !== 0) s.version += 1;
    }
    order.lines = command.lines.map((line) => ({ ...line }));
    order.changes += 1;
    return this.orderAnswer(order);
  }

  private giveBack(command: Extract<Command, { kind: 'return' }>): Expected {
    const order = this.orders.get(command.order_id);
    if (!order) return { ok: false, code: 'order_not_found' };
    if (order.status !== 'paid') return { ok: false, code: 'order_not_paid' };
    if (order.returns >= RETURNS_MAX) return { ok: false, code: 'limit_exceeded' };
    const totals = this.perSku(command.lines);
    for (const [sku, quantity] of totals) {
      if (quantity > (order.sold.get(sku) ?? 0) - (order.returned.get(sku) ?? 0))
        return { ok: false, code: 'return_exceeds_sold' };
    }
    for (const [sku, quantity] of totals) {
      const s = this.skus.get(sku)!;
      s.sold -= quantity;
      if (command.restock) s.available += quantity;
      else s.total -= quantity;
      order.returned.set(sku, (order.returned.get(sku) ?? 0) + quantity);
      s.version += 1;
    }
    order.returns += 1;
    return this.orderAnswer(order);
  }

  /** Units of `sku` the customer holds before its deadline, or bought. */
  private customerUnits(customer_id: string, sku: string): number {
    let units = 0;
    for (const order of this.orders.values()) {
      if (order.customer_id !== customer_id) continue;
      if ((order.status !== HOLD || this.isOverdue(order)) && order.status !== 'paid') continue;
      units += this.perSku(order.lines).get(sku) ?? 0;
    }
    return units;
  }

  private checkout(command: Extract<Command, { kind: 'checkout' }>): Expected {
    const totals = this.perSku(command.lines);
    for (const sku of totals.keys()) if (!this.skus.has(sku)) return { ok: false, code: 'sku_not_found' };
    // An archived SKU takes no new holds (its existing ones live on).
    for (const sku of totals.keys())
      if (this.skus.get(sku)!.archived) return { ok: false, code: 'sku_archived' };
    const gate = this.dropGate(command.customer_id, totals, {
      token: command.admission_token ?? null,
      order_id: null,
    });
    if ('code' in gate) return gate;
    for (const [sku, quantity] of totals) {
      const limit = this.skus.get(sku)!.max_per_customer;
      if (limit === null) continue;
      if (this.customerUnits(command.customer_id, sku) + quantity > limit)
        return { ok: false, code: 'limit_exceeded' };
    }
    const short = () => [...totals].filter(([sku, quantity]) => this.skus.get(sku)!.available < quantity);
    const short_skus = new Set(short().map(([sku]) => sku));
    if (short_skus.size > 0) {
      // Lazy reclaim: overdue holds of the short SKUs go back before the checkout is refused.
      for (const order of this.orders.values()) {
        if (this.isOverdue(order) && order.lines.some((line) => short_skus.has(line.sku))) this.expire(order);
      }
      if (short().length > 0) return { ok: false, code: 'insufficient_stock' };
    }
    const order: ModelOrder = {
      id: command.order_id,
      customer_id: command.customer_id,
      lines: command.lines.map((line) => ({ ...line })),
      status: HOLD,
      expires_at_ms: this.now_ms + command.hold_seconds * 1000,
      payment_id: null,
      late: false,
      created_at_ms: this.now_ms,
      extensions: 0,
      changes: 0,
      sold: new Map(),
      returned: new Map(),
      returns: 0,
    };
    this.orders.set(order.id, order);
    for (const [sku, quantity] of totals) {
      this.skus.get(sku)!.available -= quantity;
      this.skus.get(sku)!.on_hold += quantity;
    }
    this.moved(totals);
    // The admission is spent on this order (a refusal above kept it).
    for (const ticket of gate) {
      ticket.status = 'used';
      ticket.order_id = order.id;
    }
    return this.orderAnswer(order);
  }

  sweep(): number {
    let expired = 0;
    for (const order of this.orders.values()) {
      if (this.isOverdue(order)) {
        this.expire(order);
        expired += 1;
      }
    }
    return expired;
  }

  /** The invariants of DESIGN.md, over the model itself (the service must equal it). */
  checkInvariants(): void {
    for (const [id, sku] of this.skus) {
      let pending = 0;
      let paid = 0;
      for (const order of this.orders.values()) {
        for (const line of order.lines)
          if (line.sku === id && order.status === HOLD) pending += line.quantity;
        if (order.status === 'paid') paid += (order.sold.get(id) ?? 0) - (order.returned.get(id) ?? 0);
      }
      const holds =
        sku.available >= 0 &&
        sku.on_hold === pending &&
        sku.sold === paid &&
        sku.available + sku.on_hold + sku.sold === sku.total;
      if (!holds) expect({ ...sku, pending, paid }, `the model broke an invariant on ${id}`).toBeUndefined();
    }
  }
}

// ---------------------------------------------------------------------------------------------
// The generator: a few SKUs and customers so commands collide; boundaries chosen on purpose.

const SKU_POOL = ['hot', 'warm', 'cold', 'x.y-Z_1'];
const CUSTOMERS = ['c1', 'c2', 'c3'];
const DROP_IDS = ['d1', 'd2', 'd3'];
/** Customers who only join drops' lines: the line the checkout customers wait in. */
const QUEUERS = ['q1', 'q2', 'q3', 'q4', 'q5', 'q6'];

type Step =
  | { kind: 'command'; envelope: CommandEnvelope }
  | { kind: 'burst'; envelopes: CommandEnvelope[] }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' }
  | { kind: 'join'; drop_id: string; customer_id: string }
  | { kind: 'admit' };

class Generator {
  private next_order = 0;
  private next_payment = 0;
  private next_key = 0;
  /** Envelopes sent with a key, for replays. */
  private readonly keyed: CommandEnvelope[] = [];

  constructor(
    private readonly random: () => number,
    private readonly run_id: string,
    private readonly model: Model,
  ) {}

  private int(min: number, max: number): number {
    return min + Math.floor(this.random() * (max - min + 1));
  }

  private pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.random() * items.length)]!;
  }

  private chance(p: number): boolean {
    return this.random() < p;
  }

  private someOrderId(): string {
    const ids = [...this.model.orders.keys()];
    if (ids.length === 0 || this.chance(0.03)) return `${this.run_id}-nope-${this.int(0, 9)}`;
    // Mostly recent orders: they are the ones still pending.
    return ids[Math.max(0, ids.length - 1 - Math.floor(this.random() ** 2 * ids.length))]!;
  }

  /** A drop over one or two SKUs, starting now or soon, at a slow rate so lines form. */
  private createDrop(): Command {
    const skus = [
      ...new Set(
        Array.from({ length: this.int(1, 2) }, () => (this.chance(0.95) ? this.pick(SKU_POOL) : 'missing')),
      ),
    ];
    if (this.chance(0.02)) skus.push(skus[0]!);
    const starts_at_ms =
      this.model.now_ms +
      (this.chance(0.2) ? 0 : this.int(1, 40) * 1000 + (this.chance(0.3) ? this.int(1, 999) : 0));
    const ends_at_ms = this.chance(0.7)
      ? null
      : this.chance(0.05)
        ? starts_at_ms
        : starts_at_ms + this.int(10, 120) * 1000;
    return {
      kind: 'create_drop',
      drop_id: this.pick(DROP_IDS),
      skus,
      starts_at_ms,
      ends_at_ms,
      admission_per_second: this.int(1, 3),
      admission_seconds: this.int(10, 90),
      max_per_customer: this.chance(0.5) ? null : this.int(1, 4),
    };
  }

  /** The token a checkout presents: mostly the customer's own for a drop of its SKUs, now and then another's, a forged one or none. */
  private tokenFor(customer_id: string, lines: readonly OrderLine[]): string | null | undefined {
    const drops = [...new Set(lines.flatMap((line) => this.model.sku_drop.get(line.sku) ?? []))];
    if (drops.length === 0) return this.chance(0.95) ? undefined : this.chance(0.5) ? 'adm_forged' : '';
    const drop_id = this.pick(drops);
    const own = this.model.tickets.get(ticketKey(drop_id, customer_id));
    const roll = this.random();
    if (own && roll < 0.75) return own.token;
    if (roll < 0.85) {
      const others = [...this.model.tickets.values()].filter((t) => t.drop_id === drop_id && t !== own);
      if (others.length > 0) return this.pick(others).token;
    }
    return roll < 0.92 ? 'adm_forged' : null;
  }

  /** A checkout of an admitted customer of the drop's SKUs, mostly with their token. */
  private admittedCheckout(ticket: ModelTicket): Command {
    const drop = this.model.drops.get(ticket.drop_id)!;
    const lines = drop.skus.filter(() => this.chance(0.7)).map((sku) => ({ sku, quantity: this.int(1, 3) }));
    if (lines.length === 0) lines.push({ sku: drop.skus[0]!, quantity: 1 });
    if (this.chance(0.2)) lines.push({ sku: this.pick(SKU_POOL), quantity: 1 });
    return {
      kind: 'checkout',
      order_id: `${this.run_id}-${String(this.next_order++).padStart(6, '0')}`,
      customer_id: ticket.customer_id,
      lines,
      hold_seconds: this.chance(0.5) ? this.int(1, 5) : this.int(10, 120),
      admission_token: this.chance(0.9) ? ticket.token : null,
    };
  }

  command(): Command {
    if (this.chance(0.03)) return this.createDrop();
    const roll = this.random();
    if (roll < 0.06) {
      return {
        kind: 'create_sku',
        sku: this.pick(SKU_POOL),
        name: 'item',
        available: this.int(0, 20),
        max_per_customer: this.chance(0.3) ? this.int(1, 6) : null,
      };
    }
    if (roll < 0.16) {
      const sku = this.chance(0.95) ? this.pick(SKU_POOL) : 'missing';
      const current = this.model.skus.get(sku)?.available ?? 0;
      return {
        kind: 'adjust',
        sku,
        delta: this.chance(0.03) ? 0 : this.chance(0.6) ? this.int(1, 15) : -this.int(1, 10),
        reason: this.chance(0.5) ? 'restock' : null,
        expected_available: this.chance(0.5) ? null : current + (this.chance(0.8) ? 0 : this.int(-1, 1)),
      };
    }
    if (roll < 0.25) return this.skuLifeCommand(roll);
    if (roll < 0.55) {
      const admitted = [...this.model.tickets.values()].filter(
        (t) => t.status === 'admitted' && CUSTOMERS.includes(t.customer_id),
      );
      // A customer admitted to a drop checks out its SKUs: the admission's use, not only its refusals.
      if (admitted.length > 0 && this.chance(0.4)) return this.admittedCheckout(this.pick(admitted));
      const lines: OrderLine[] = [];
      const count = this.chance(0.01) ? 0 : this.int(1, 3);
      for (let i = 0; i < count; i++) {
        lines.push({
          sku: this.chance(0.97) ? this.pick(SKU_POOL) : 'missing',
          quantity: this.chance(0.01) ? 0 : this.int(1, 5),
        });
      }
      // A repeated SKU: the lines must be decided against their sum.
      if (count > 0 && this.chance(0.15)) lines.push({ ...lines[0]! });
      const customer_id = this.pick(CUSTOMERS);
      const command: Command = {
        kind: 'checkout',
        order_id: `${this.run_id}-${String(this.next_order++).padStart(6, '0')}`,
        customer_id,
        lines,
        hold_seconds: this.chance(0.5) ? this.int(1, 5) : this.int(10, 120),
      };
      const admission_token = this.tokenFor(customer_id, lines);
      if (admission_token !== undefined) command.admission_token = admission_token;
      return command;
    }
    if (roll < 0.72) {
      const order_id = this.someOrderId();
      const existing = this.model.orders.get(order_id)?.payment_id;
      const payment_id =
        existing && this.chance(0.5) ? existing : this.chance(0.01) ? '' : `pay-${this.next_payment++}`;
      // A partial capture: part of some lines (now and then more than held, or a SKU not held).
      const lines = this.chance(0.3) ? this.someLinesOf(order_id, 1) : null;
      return { kind: 'pay', order_id, payment_id, lines };
    }
    if (roll < 0.78) return { kind: 'cancel', order_id: this.someOrderId() };
    if (roll < 0.86) {
      return {
        kind: 'extend',
        order_id: this.someOrderId(),
        seconds: this.chance(0.02) ? 0 : this.int(1, 90),
        reason: this.chance(0.5) ? 'slow payment' : null,
        extensions_max: EXTENSIONS_MAX,
        hold_seconds_total_max: HOLD_SECONDS_TOTAL_MAX,
      };
    }
    if (roll < 0.93) {
      const order_id = this.someOrderId();
      const lines = this.someLinesOf(order_id, 3);
      if (this.chance(0.3)) lines.push({ sku: this.pick(SKU_POOL), quantity: this.int(1, 4) });
      return { kind: 'change_order', order_id, lines: this.chance(0.02) ? [] : lines };
    }
    const order_id = this.someOrderId();
    return {
      kind: 'return',
      order_id,
      lines: this.someLinesOf(order_id, 1),
      restock: this.chance(0.5),
      reason: this.chance(0.5) ? 'returned' : null,
    };
  }

  /** Some of an order's SKUs with a quantity near its line's (0 up to `over` past it). */
  private someLinesOf(order_id: string, over: number): OrderLine[] {
    const order = this.model.orders.get(order_id);
    const skus = [...new Set(order?.lines.map((line) => line.sku) ?? [this.pick(SKU_POOL)])];
    const lines = skus
      .filter(() => this.chance(0.7))
      .map((sku) => {
        const quantity = order?.lines.find((line) => line.sku === sku)?.quantity ?? 1;
        return {
          sku,
          quantity: Math.max(1, this.int(quantity - 2, quantity + (this.chance(0.1) ? over : 0))),
        };
      });
    if (lines.length === 0) lines.push({ sku: skus[0] ?? this.pick(SKU_POOL), quantity: 1 });
    if (this.chance(0.03)) lines.push({ sku: this.pick(SKU_POOL), quantity: 1 });
    return lines;
  }

  /** A PATCH (archiving often, so archived SKUs meet checkouts and come back), a count or a delete. */
  private skuLifeCommand(roll: number): Command {
    const sku = this.chance(0.95) ? this.pick(SKU_POOL) : 'missing';
    const version = this.model.skus.get(sku)?.version ?? 1;
    const expected_version = this.chance(0.5) ? null : version + (this.chance(0.8) ? 0 : this.int(-1, 1));
    if (roll < 0.2) {
      const command: Command = { kind: 'update_sku', sku, expected_version };
      if (this.chance(0.5)) command.archived = this.chance(0.4);
      if (this.chance(0.3)) command.max_per_customer = this.chance(0.3) ? null : this.int(1, 6);
      if (this.chance(0.3)) command.low_stock_threshold = this.chance(0.3) ? null : this.int(0, 8);
      if (this.chance(0.2)) command.name = this.pick(['item', 'renamed']);
      return command;
    }
    if (roll < 0.23) {
      const on_hold = this.model.skus.get(sku)?.on_hold ?? 0;
      const unsold = Math.max(0, on_hold + this.int(-2, 15));
      return { kind: 'count', sku, unsold, reason: this.chance(0.5) ? 'stocktake' : null, expected_version };
    }
    return { kind: 'delete_sku', sku };
  }

  envelope(): CommandEnvelope {
    if (this.keyed.length > 0 && this.chance(0.08)) {
      const prior = this.pick(this.keyed);
      if (this.chance(0.7)) {
        // Same request again (a checkout retried by a client gets a fresh order id from the server).
        const command =
          prior.command.kind === 'checkout'
            ? { ...prior.command, order_id: `${this.run_id}-${String(this.next_order++).padStart(6, '0')}` }
            : prior.command;
        return { command, idempotency: prior.idempotency };
      }
      const command = this.command();
      return { command, idempotency: { key: prior.idempotency!.key, fingerprint: fingerprint(command) } };
    }
    const command = this.command();
    if (!this.chance(0.3)) return { command };
    const envelope = {
      command,
      idempotency: { key: `${this.run_id}-k${this.next_key++}`, fingerprint: fingerprint(command) },
    };
    this.keyed.push(envelope);
    return envelope;
  }

  step(): Step {
    const roll = this.random();
    if (roll < 0.08) {
      // Exactly onto a deadline, a drop's start or an admission's lapse (the boundary: due at that
      // moment), or just before it, or anywhere.
      const deadlines = [
        ...[...this.model.orders.values()]
          .filter((order) => order.status === HOLD)
          .map((o) => o.expires_at_ms),
        ...[...this.model.drops.values()].map((drop) => drop.starts_at_ms),
        ...[...this.model.tickets.values()].flatMap((t) =>
          t.status === 'admitted' ? [t.expires_at_ms!] : [],
        ),
      ].filter((at_ms) => at_ms >= this.model.now_ms);
      if (deadlines.length > 0 && this.chance(0.5)) {
        const target = this.pick(deadlines) - (this.chance(0.5) ? 0 : 1);
        return { kind: 'advance', ms: Math.max(0, target - this.model.now_ms) };
      }
      // Now and then less than a second: the admission passes' budget is counted in milliseconds.
      if (this.model.drops.size > 0 && this.chance(0.3)) return { kind: 'advance', ms: this.int(1, 1500) };
      return { kind: 'advance', ms: this.int(0, 30) * 1000 };
    }
    if (roll < 0.12) return { kind: 'sweep' };
    if (roll < 0.45) {
      const envelopes = Array.from({ length: this.int(2, 8) }, () => this.envelope());
      return { kind: 'burst', envelopes };
    }
    // With drops, some of the single commands give way to admission passes and joins.
    if (this.model.drops.size > 0 && roll < 0.52) return { kind: 'admit' };
    if (this.model.drops.size > 0 && roll < 0.6) {
      const drop_id = this.chance(0.97) ? this.pick([...this.model.drops.keys()]) : 'd-none';
      return { kind: 'join', drop_id, customer_id: this.pick(this.chance(0.7) ? CUSTOMERS : QUEUERS) };
    }
    return { kind: 'command', envelope: this.envelope() };
  }
}

function fingerprint(command: Command): string {
  const { order_id: _ignored, ...rest } = command as Command & { order_id?: string };
  return JSON.stringify(command.kind === 'checkout' ? rest : command);
}

// ---------------------------------------------------------------------------------------------
// Running one sequence against the store and the model.

/** Asserts equality; vitest's expect only on a mismatch, since it costs more than the comparison. */
function same(actual: unknown, expected: unknown, where: () => string): void {
  if (!isDeepStrictEqual(actual, expected)) expect(actual, where()).toEqual(expected);
}

function expectAnswer(actual: CommandResult['outcome'], expected: Expected, where: () => string): void {
  if (!expected.ok) {
    same(actual.ok ? 'ok' : actual.error.code, expected.code, where);
    return;
  }
  same(actual.ok ? 'ok' : actual.error.code, 'ok', where);
  if (!actual.ok) return;
  const value = actual.value as unknown as Record<string, unknown>;
  if ('drop' in expected) {
    const drop = expected.drop;
    same(
      pick(value, [
        'id',
        'skus',
        'status',
        'starts_at',
        'ends_at',
        'admission_per_second',
        'admission_seconds',
        'max_per_customer',
        'admitted_through',
        'sold_out_at',
      ]),
      {
        id: drop.id,
        skus: drop.skus,
        status: expected.status,
        starts_at: new Date(drop.starts_at_ms).toISOString(),
        ends_at: drop.ends_at_ms === null ? null : new Date(drop.ends_at_ms).toISOString(),
        admission_per_second: drop.rate,
        admission_seconds: drop.admission_seconds,
        max_per_customer: drop.max_per_customer,
        admitted_through: 0,
        sold_out_at: null,
      },
      where,
    );
  } else if ('sku' in expected) {
    same(
      {
        sku: value.sku,
        ...pick(value, [
          'available',
          'on_hold',
          'sold',
          'max_per_customer',
          'low_stock_threshold',
          'archived',
          'version',
        ]),
      },
      { sku: expected.sku, ...expected.buckets },
      where,
    );
  } else {
    const order = expected.order;
    same(
      {
        id: value.id,
        status: value.status,
        lines: value.lines,
        expires_at: value.expires_at,
        payment_id: value.payment_id ?? null,
        late: value.late ?? false,
        extensions: value.extensions,
        sold_lines: value.sold_lines ?? null,
        returns: (value.returns as unknown[]).length,
      },
      {
        id: order.id,
        status: order.status,
        lines: order.lines,
        expires_at: new Date(order.expires_at_ms).toISOString(),
        payment_id: order.payment_id,
        late: order.late,
        extensions: order.extensions,
        sold_lines: order.status === 'paid' ? soldLines(order) : null,
        returns: order.returns,
      },
      where,
    );
  }
}

/** The sold lines the API shows: per SKU, in the order the SKUs first appear in the lines. */
function soldLines(order: ModelOrder): OrderLine[] {
  const skus = [...new Set(order.lines.map((line) => line.sku))];
  return skus.flatMap((sku) => {
    const quantity = order.sold.get(sku) ?? 0;
    return quantity > 0 ? [{ sku, quantity }] : [];
  });
}

function linesOk(lines: readonly OrderLine[]): boolean {
  return (
    lines.length >= 1 &&
    lines.length <= 100 &&
    lines.every(
      (line) => line.quantity >= 1 && line.quantity <= 1_000_000 && /^[A-Za-z0-9._-]{1,64}$/.test(line.sku),
    )
  );
}

function pick(value: Record<string, unknown>, keys: string[]): Record<string, unknown> {
  return Object.fromEntries(keys.map((key) => [key, value[key]]));
}

interface RunOutcome {
  operations: number;
}

/** How often the drops' cases came up, over every run: a figure that shows the mix reaches them. */
const drop_cases = new Map<string, number>();
const tallyDropCase = (name: string, count = 1) => {
  if (count > 0) drop_cases.set(name, (drop_cases.get(name) ?? 0) + count);
};
const DROP_CODES = new Set([
  'drop_exists',
  'sku_in_drop',
  'drop_not_started',
  'admission_required',
  'admission_expired',
  'drop_not_found',
  'drop_closed',
]);

const numberOrNull = (value: unknown): number | null => (value === null ? null : Number(value));

/**
 * Every drop's line and every ticket as stored, against the model's: the parts a step may have
 * changed (a read of each after every step would cost as much as the step).
 */
async function compareDrops(
  store: KyselyStore,
  model: Model,
  parts: { drops: boolean; tickets: boolean },
  where: () => string,
): Promise<void> {
  const db = rawDatabase(store);
  if (parts.drops) {
    const drops = await db.selectFrom('drops').selectAll().execute();
    same(
      Object.fromEntries(
        drops.map((row) => [
          row.id,
          [
            Number(row.positioned) === 1,
            Number(row.next_position),
            Number(row.admitted_through),
            numberOrNull(row.sold_out_at_ms),
          ],
        ]),
      ),
      Object.fromEntries(
        [...model.drops.values()].map((drop) => [
          drop.id,
          [drop.positioned, drop.next_position, drop.admitted_through, drop.sold_out_at_ms],
        ]),
      ),
      where,
    );
  }
  if (!parts.tickets) return;
  const tickets = await db.selectFrom('drop_tickets').selectAll().execute();
  same(
    Object.fromEntries(
      tickets.map((row) => [
        ticketKey(row.drop_id, row.customer_id),
        [
          numberOrNull(row.position),
          row.status,
          row.admission_token,
          numberOrNull(row.admitted_at_ms),
          numberOrNull(row.admission_expires_at_ms),
          row.order_id,
        ],
      ]),
    ),
    Object.fromEntries(
      [...model.tickets].map(([key, t]) => [
        key,
        [t.position, t.status, t.token, t.admitted_at_ms, t.expires_at_ms, t.order_id],
      ]),
    ),
    where,
  );
}

/**
 * What a step may change of the drops: their rows (create_drop, a join, a pass), or tickets (also a
 * checkout or change, which uses an admission). The rest leaves them be.
 */
function dropsTouched(step: Step, model: Model): { drops: boolean; tickets: boolean } {
  if (model.drops.size === 0) return { drops: false, tickets: false };
  if (step.kind === 'join' || step.kind === 'admit') return { drops: true, tickets: true };
  const envelopes = step.kind === 'command' ? [step.envelope] : step.kind === 'burst' ? step.envelopes : [];
  const kinds = envelopes.map((envelope) => envelope.command.kind);
  const uses_tickets = kinds.some((kind) => kind === 'checkout' || kind === 'change_order');
  return { drops: kinds.includes('create_drop'), tickets: uses_tickets && model.tickets.size > 0 };
}

/** The positions the store gave, for the model to take when it positions a pre-queue. */
async function storePositions(store: KyselyStore, model: Model): Promise<Map<string, number | null>> {
  if ([...model.drops.values()].every((drop) => drop.positioned)) return new Map();
  const rows = await rawDatabase(store)
    .selectFrom('drop_tickets')
    .select(['drop_id', 'customer_id', 'position'])
    .execute();
  return new Map(rows.map((row) => [ticketKey(row.drop_id, row.customer_id), numberOrNull(row.position)]));
}

async function runSequence(
  store: KyselyStore,
  seed: number,
  steps: number,
  audit_every_steps: number,
): Promise<RunOutcome> {
  const clock = new ManualClock();
  const model = new Model(clock.now());
  const generator = new Generator(seededRandom(seed), `s${seed}`, model);
  const queue = new CommandQueue(store, clock, {
    coalesce: true,
    batch_size_max: 64,
    queue_length_max: 1000,
  });
  const history: Step[] = [];
  let operations = 0;

  /** The model's answer for one envelope, with the idempotency rules of DESIGN.md. */
  const expectFor = (envelope: CommandEnvelope): { expected: Expected | 'replay'; key?: string } => {
    const idempotency = envelope.idempotency;
    if (model.isInvalid(envelope.command)) return { expected: { ok: false, code: 'invalid_request' } };
    if (idempotency) {
      const known = model.keys.get(idempotency.key);
      if (known && known.fingerprint !== idempotency.fingerprint) {
        return { expected: { ok: false, code: 'idempotency_key_reused' } };
      }
      if (known) return { expected: 'replay', key: idempotency.key };
    }
    return { expected: model.decide(envelope.command), key: idempotency?.key };
  };
  const check = (envelope: CommandEnvelope, result: CommandResult, where: () => string) => {
    const { expected, key } = expectFor(envelope);
    if (expected === 'replay') {
      same(result.replayed, true, where);
      same(result.outcome, model.keys.get(key!)!.first, where);
      return;
    }
    same(result.replayed, false, where);
    expectAnswer(result.outcome, expected, where);
    if (!expected.ok && DROP_CODES.has(expected.code)) tallyDropCase(expected.code);
    if (envelope.command.kind === 'create_drop' && expected.ok) tallyDropCase('drop created');
    if (key !== undefined) {
      model.keys.set(key, { fingerprint: envelope.idempotency!.fingerprint, first: result.outcome });
    }
  };

  for (let index = 0; index < steps; index++) {
    const step = generator.step();
    history.push(step);
    const where = () =>
      `seed ${seed}, step ${index}; last steps:\n${history
        .slice(-8)
        .map((s) => JSON.stringify(s))
        .join('\n')}`;
    try {
      if (step.kind === 'advance') {
        clock.advance(step.ms);
        model.now_ms = clock.now();
        operations += 1;
      } else if (step.kind === 'sweep') {
        const swept = await store.sweepExpired(clock.now(), 10_000);
        same(swept, model.sweep(), where);
        operations += 1;
      } else if (step.kind === 'join') {
        let answer: { ok: true; created: boolean; ticket: TicketState } | { ok: false; code: string };
        try {
          answer = { ok: true, ...(await store.drops.join(step.drop_id, step.customer_id, clock.now())) };
        } catch (error) {
          if (!(error instanceof StockholdError)) throw error;
          answer = { ok: false, code: error.code };
        }
        model.observed_positions = await storePositions(store, model);
        const expected = model.join(step.drop_id, step.customer_id);
        same(answer.ok ? 'ok' : answer.code, expected.ok ? 'ok' : expected.code, where);
        tallyDropCase(expected.ok ? (expected.created ? 'ticket taken' : 'ticket again') : expected.code);
        if (answer.ok && expected.ok) {
          if (expected.created) expected.ticket.token = answer.ticket.admission_token;
          same(
            [answer.created, answer.ticket.position, answer.ticket.status, answer.ticket.admission_token],
            [expected.created, expected.ticket.position, expected.ticket.status, expected.ticket.token],
            where,
          );
        }
        operations += 1;
      } else if (step.kind === 'admit') {
        const reports = await store.drops.admit(clock.now());
        model.observed_positions = await storePositions(store, model);
        const sorted = (waits: number[]) => [...waits].sort((a, b) => a - b);
        same(
          reports.map((report) => ({ ...report, waits_ms: sorted(report.waits_ms) })),
          model.admit().map((report) => ({ ...report, waits_ms: sorted(report.waits_ms) })),
          where,
        );
        for (const report of reports) {
          tallyDropCase('admitted', report.admitted);
          tallyDropCase('admissions lapsed', report.expired);
          tallyDropCase('sold out', report.sold_out ? 1 : 0);
          tallyDropCase('paused', !report.sold_out && report.admitted === 0 && report.waiting > 0 ? 1 : 0);
        }
        operations += 1;
      } else if (step.kind === 'command') {
        const result = await queue.submit(step.envelope);
        check(step.envelope, result, where);
        operations += 1;
      } else {
        // One transaction for the whole burst, answered as if the commands ran one after another.
        const results = await store.execute(step.envelopes, clock.now());
        for (const [i, envelope] of step.envelopes.entries()) {
          check(envelope, results[i]!, () => `${where()} (burst #${i})`);
        }
        operations += step.envelopes.length;
      }
      model.checkInvariants();
      const rows = await store.listSkus(100, undefined, true);
      same(
        Object.fromEntries(
          rows.map((row) => [row.sku, [row.available, row.on_hold, row.sold, row.version, row.archived]]),
        ),
        Object.fromEntries(
          [...model.skus].map(([sku, s]) => [sku, [s.available, s.on_hold, s.sold, s.version, s.archived]]),
        ),
        where,
      );
      await compareDrops(store, model, dropsTouched(step, model), where);
      if ((index + 1) % audit_every_steps === 0) expect((await store.audit()).problems, where()).toEqual([]);
    } catch (error) {
      process.stdout.write(
        `\n[model] FAILED at seed ${seed}, step ${index}. Replay: STOCKHOLD_MODEL_SEED=${seed} STOCKHOLD_MODEL_RUNS=1 ` +
          `npx vitest run test/reliability/model.test.ts\n`,
      );
      throw error;
    }
  }
  // The end of a run: every order's state equals the model's, and the deep walk of verify is clean.
  const orders = await store.listOrders({ limit: 100_000 });
  expect(Object.fromEntries(orders.map((order) => [order.id, order.status]))).toEqual(
    Object.fromEntries([...model.orders].map(([id, order]) => [id, order.status])),
  );
  await compareDrops(store, model, { drops: true, tickets: true }, () => `seed ${seed}, at the end`);
  await expectVerified(store);
  tallyDropCase('admissions used', [...model.tickets.values()].filter((t) => t.status === 'used').length);
  return { operations };
}

// ---------------------------------------------------------------------------------------------

const fixed_seed = process.env.STOCKHOLD_MODEL_SEED;
const base_seed = fixed_seed ? Number(fixed_seed) : Math.floor(Math.random() * 2 ** 31);
const STEPS = envCount('STOCKHOLD_MODEL_STEPS', 150);
/** Runs stop when this many operations were checked (or at STOCKHOLD_MODEL_RUNS runs). */
const SQLITE_OPERATIONS = envCount('STOCKHOLD_MODEL_OPERATIONS', 100_000);
const SQLITE_RUNS_MAX = envCount('STOCKHOLD_MODEL_RUNS', fixed_seed ? 1 : 10_000);
const PG_RUNS = envCount('STOCKHOLD_MODEL_PG_RUNS', 6);

describe('the store agrees with the reference model', () => {
  it(`on SQLite, over ${SQLITE_OPERATIONS} operations in sequences of ${STEPS} steps (base seed ${base_seed})`, async () => {
    let operations = 0;
    let runs = 0;
    const started_ms = performance.now();
    for (let run = 0; run < SQLITE_RUNS_MAX && operations < SQLITE_OPERATIONS; run++) {
      runs += 1;
      const store = await openSqliteStore(SQLITE_MEMORY);
      await store.migrate();
      try {
        operations += (await runSequence(store, base_seed + run, STEPS, 50)).operations;
      } finally {
        await store.close();
      }
    }
    reportFigure('model operations on SQLite', operations);
    reportFigure('model runs on SQLite', runs);
    reportFigure('model drop cases', JSON.stringify(Object.fromEntries(drop_cases)));
    reportFigure('model seconds on SQLite', ((performance.now() - started_ms) / 1000).toFixed(1));
    if (runs < SQLITE_RUNS_MAX) expect(operations).toBeGreaterThanOrEqual(SQLITE_OPERATIONS);
  }, 1_200_000);

  describe('on PostgreSQL', () => {
    let database: TestDatabase;
    let store: KyselyStore;
    beforeAll(async () => {
      database = await createTestDatabase('stockhold_model');
      store = await openPostgresStore({ url: database.url, pool_size: 4, statement_timeout_ms: 10_000 });
      await store.migrate();
    });
    afterAll(async () => {
      await store?.close();
      await database?.drop();
    });

    it(`over ${PG_RUNS} random sequences of ${STEPS} steps (base seed ${base_seed})`, async () => {
      let operations = 0;
      for (let run = 0; run < PG_RUNS; run++) {
        // One database for every run: each run's tables are emptied first (keys and ids differ anyway).
        for (const table of [
          'skus',
          'orders',
          'order_lines',
          'order_sold_lines',
          'order_returns',
          'holds',
          'ledger',
          'idempotency_keys',
          'outbox',
          'drop_tickets',
          'drops',
        ] as const) {
          await rawDatabase(store).deleteFrom(table).execute();
        }
        operations += (await runSequence(store, base_seed + 1_000_000 + run, STEPS, 25)).operations;
      }
      reportFigure('model operations on PostgreSQL', operations);
    }, 1_200_000);
  });
});
