// Opaque page cursors: base64url of the last key seen, so clients cannot depend on its shape.
import { StockholdError } from '../core/errors.ts';

export function encodeCursor(key: string | number): string {
  return Buffer.from(JSON.stringify({ k: key })).toString('base64url');
}

export function decodeCursor<T extends 'string' | 'number'>(
  cursor: string | undefined,
  type: T,
): (T extends 'string' ? string : number) | undefined {
  if (cursor === undefined) return undefined;
  try {
    const parsed = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as { k?: unknown };
    if (typeof parsed.k === type) return parsed.k as T extends 'string' ? string : number;
  } catch {
    // fall through to the refusal
  }
  throw new StockholdError('invalid_request', 'cursor is not one this server gave out');
}

/** The cursor of the next page: the last item's key when the page is full, else null. */
export function nextCursor<T>(
  items: readonly T[],
  limit: number,
  key: (item: T) => string | number,
): string | null {
  const last = items.at(-1);
  return items.length === limit && last !== undefined ? encodeCursor(key(last)) : null;
}
