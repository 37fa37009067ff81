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
// Replay a failure: STOCKHOLD_MODEL_SEED=<seed printed> (and STOCKHOLD_MODEL_RUNS=1 to run only it).
// Longer soak: STOCKHOLD_MODEL_RUNS, STOCKHOLD_MODEL_STEPS, STOCKHOLD_MODEL_PG_RUNS.
import { isDeepStrictEqual } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../../src/core/clock.ts';
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

/** The caps the model's extensions run against (HOLD_EXTENSIONS_MAX, HOLD_SECONDS_TOTAL_MAX). */
const EXTENSIONS_MAX = 2;
const HOLD_SECONDS_TOTAL_MAX = 150;
/** LIMITS.order_changes_max and order_returns_max, as DESIGN-level numbers. */
const CHANGES_MAX = 10;
const RETURNS_MAX = 10;

type Expected =
  | { ok: true; sku: string; buckets: Omit<ModelSku, 'total'> }
  | { ok: true; order: ModelOrder }
  | { ok: false; code: string };

const HOLD = 'pending_payment';

class Model {
  readonly skus = new Map<string, ModelSku>();
  readonly orders = new Map<string, ModelOrder>();
  /** Idempotency key -> the fingerprint that claimed it and the service's first answer. */
  readonly keys = new Map<string, { fingerprint: string; first: CommandResult['outcome'] }>();
  /** Each SKU's name, apart from the buckets the answers compare. */
  readonly names = new Map<string, string>();

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
        throw new Error('the model does not generate drops');
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
    const answer = this.skuAnswer(command.sku);
    this.skus.delete(command.sku);
    return answer;
  }

  decide(command: Command): Expected {
    if (this.isInvalid(command)) return { ok: false, code: 'invalid_request' };
    switch (command.kind) {
      case 'create_drop':
        throw new Error('the model does not generate drops');
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

type Step =
  | { kind: 'command'; envelope: CommandEnvelope }
  | { kind: 'burst'; envelopes: CommandEnvelope[] }
  | { kind: 'advance'; ms: number }
  | { kind: 'sweep' };

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

  command(): Command {
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
      return {
        kind: 'checkout',
        order_id: `${this.run_id}-${String(this.next_order++).padStart(6, '0')}`,
        customer_id: this.pick(CUSTOMERS),
        lines,
        hold_seconds: this.chance(0.5) ? this.int(1, 5) : this.int(10, 120),
      };
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
      const pending = [...this.model.orders.values()].filter((order) => order.status === HOLD);
      // Exactly onto a deadline (the boundary: due at expires_at), or just before it, or anywhere.
      if (pending.length > 0 && this.chance(0.5)) {
        const target = this.pick(pending).expires_at_ms - (this.chance(0.5) ? 0 : 1);
        return { kind: 'advance', ms: Math.max(0, target - this.model.now_ms) };
      }
      return { kind: 'advance', ms: this.int(0, 30) * 1000 };
    }
    if (roll < 0.12) return { kind: 'sweep' };
    if (roll < 0.45) {
      const envelopes = Array.from({ length: this.int(2, 8) }, () => this.envelope());
      return { kind: 'burst', envelopes };
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
  if ('sku' in expected) {
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
  await expectVerified(store);
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
        ] as const) {
          await rawDatabase(store).deleteFrom(table).execute();
        }
        operations += (await runSequence(store, base_seed + 1_000_000 + run, STEPS, 25)).operations;
      }
      reportFigure('model operations on PostgreSQL', operations);
    }, 1_200_000);
  });
});
