// Asserts every invariant of DESIGN.md on a store: the audit (ledger, holds, orders) finds nothing.
import { expect } from 'vitest';
import type { Store } from '../../src/store/store.ts';

export async function expectConservation(store: Store): Promise<void> {
  const report = await store.audit();
  expect(report.problems).toEqual([]);
}
