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

it('refuses an unpaired UTF-16 surrogate in any text of a command, and keeps a well-formed pair', () => {
  const adjust: Command = {
    kind: 'adjust',
    sku: 'a',
    delta: 1,
    reason: 'restock 📦',
    expected_available: null,
  };
  expect(invalidReason(adjust)).toBeNull();
  expect(invalidReason({ ...adjust, reason: 'r\ud800' } as Command)).toBe(
    'reason may not contain an unpaired UTF-16 surrogate',
  );
  expect(invalidReason({ kind: 'pay', order_id: 'o1', payment_id: '\udc00p' })).toBe(
    'payment_id may not contain an unpaired UTF-16 surrogate',
  );
});

it('refuses the SKU ids . and .., which no URL can address', () => {
  for (const sku of ['.', '..']) {
    expect(invalidReason({ kind: 'create_sku', sku, name: sku, available: 1, max_per_customer: null })).toBe(
      'sku may not be . or ..',
    );
  }
  expect(
    invalidReason({ kind: 'create_sku', sku: '...', name: 'n', available: 1, max_per_customer: null }),
  ).toBeNull();
});
