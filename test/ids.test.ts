import { validate, version } from 'uuid';
import { expect, it } from 'vitest';
import { newId } from '../src/ids.ts';

it('makes valid UUIDv7 ids, all distinct, that sort in the order they were made', () => {
  // 5,000 ids span many pool refills and many ids per millisecond.
  const ids = Array.from({ length: 5000 }, () => newId());
  for (const id of ids.slice(0, 50)) {
    expect(validate(id)).toBe(true);
    expect(version(id)).toBe(7);
  }
  expect(new Set(ids).size).toBe(ids.length);
  expect([...ids].sort()).toEqual(ids);
});
