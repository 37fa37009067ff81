import { expect, it } from 'vitest';
import type { Command } from '../../src/core/types.ts';
import { invalidReason } from '../../src/core/validate.ts';

it('refuses NUL in any text of a command, which PostgreSQL cannot keep', () => {
  const checkout: Command = {
    kind: 'checkout',
    order_id: 'o1',
    customer_id: 'c1',
    lines: [{ sku: 'a', quantity: 1 }],
    hold_seconds: 60,
  };
  expect(invalidReason(checkout)).toBeNull();
  expect(invalidReason({ ...checkout, customer_id: 'c\u00001' } as Command)).toBe(
    'customer_id may not contain NUL',
  );
  expect(invalidReason({ kind: 'pay', order_id: 'o1', payment_id: 'p\u0000' })).toBe(
    'payment_id may not contain NUL',
  );
  expect(invalidReason({ kind: 'cancel', order_id: 'o\u00001' })).toBe('order_id may not contain NUL');
  expect(
    invalidReason({ kind: 'create_sku', sku: 'a', name: 'n\u0000', available: 1, max_per_customer: null }),
  ).toBe('name may not contain NUL');
});
