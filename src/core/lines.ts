// An order's lines as per-SKU totals and back: what holds, captures and returns are decided over.
import type { OrderLine } from './types.ts';

/** Sums an order's lines per SKU: two lines of one SKU are decided against their total. */
export function quantitiesBySku(lines: readonly OrderLine[]): Map<string, number> {
  const totals = new Map<string, number>();
  for (const line of lines) totals.set(line.sku, (totals.get(line.sku) ?? 0) + line.quantity);
  return totals;
}

/** Per-SKU totals as lines, in their first appearance's order, the SKUs with none left out. */
export function linesOf(totals: ReadonlyMap<string, number>): OrderLine[] {
  return [...totals].filter(([, quantity]) => quantity > 0).map(([sku, quantity]) => ({ sku, quantity }));
}

/**
 * Per-SKU totals (a sale's, say) as lines in the order the SKUs first appear in `lines`, the SKUs
 * with none left out: one order however the totals were gathered (a request, a database read).
 */
export function linesInOrderOf(
  lines: readonly OrderLine[],
  totals: ReadonlyMap<string, number>,
): OrderLine[] {
  return linesOf(new Map([...quantitiesBySku(lines).keys()].map((sku) => [sku, totals.get(sku) ?? 0])));
}
