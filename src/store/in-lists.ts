// Long lists of ids go to the database in bounded IN (...) lists.

/** Ids per IN (...) list: far below SQLite's 32,766 and PostgreSQL's 65,535 parameters. */
export const IN_LIST_MAX = 1000;

/** `items` in slices of at most `size`, in order. */
export function* chunks<T>(items: readonly T[], size: number): Generator<T[]> {
  for (let start = 0; start < items.length; start += size) yield items.slice(start, start + size);
}
