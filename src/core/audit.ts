// Checks the invariants of DESIGN.md over recomputed totals: the pure half of `stockhold verify`.
export interface SkuTotals {
  sku: string;
  available: number;
  on_hold: number;
  sold: number;
  version: number;
  /** Sums over the ledger. */
  ledger_available: number;
  ledger_on_hold: number;
  ledger_sold: number;
  ledger_stock_changes: number;
  ledger_entries: number;
  ledger_max_seq: number;
  /** Sum of the hold rows of the SKU. */
  holds: number;
  /** Sums of the order lines of pending and of paid orders. */
  pending_quantity: number;
  paid_quantity: number;
}

export interface AuditReport {
  skus_checked: number;
  orders_checked: number;
  ledger_entries_checked: number;
  problems: string[];
}

export function auditSku(t: SkuTotals): string[] {
  const problems: string[] = [];
  const say = (what: string) => problems.push(`${t.sku}: ${what}`);
  for (const bucket of ['available', 'on_hold', 'sold'] as const) {
    if (t[bucket] < 0) say(`${bucket} is negative (${t[bucket]})`);
  }
  if (t.available + t.on_hold + t.sold !== t.ledger_stock_changes) {
    say(
      `available + on_hold + sold = ${t.available + t.on_hold + t.sold}, but the adjustments sum to ${t.ledger_stock_changes}`,
    );
  }
  if (t.ledger_available !== t.available)
    say(`ledger recomputes available ${t.ledger_available}, row has ${t.available}`);
  if (t.ledger_on_hold !== t.on_hold)
    say(`ledger recomputes on_hold ${t.ledger_on_hold}, row has ${t.on_hold}`);
  if (t.ledger_sold !== t.sold) say(`ledger recomputes sold ${t.ledger_sold}, row has ${t.sold}`);
  if (t.ledger_entries !== t.version || t.ledger_max_seq !== t.version) {
    say(
      `ledger has ${t.ledger_entries} entries up to seq ${t.ledger_max_seq}, row is at version ${t.version}`,
    );
  }
  if (t.holds !== t.on_hold) say(`hold rows sum to ${t.holds}, on_hold is ${t.on_hold}`);
  if (t.pending_quantity !== t.on_hold)
    say(`pending orders hold ${t.pending_quantity}, on_hold is ${t.on_hold}`);
  if (t.paid_quantity !== t.sold) say(`paid orders hold ${t.paid_quantity}, sold is ${t.sold}`);
  return problems;
}
