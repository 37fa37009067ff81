// SQLite's bulk writes: each write as multi-row statements in blocks of a few fixed sizes, which the
// connection's statement cache keeps prepared (src/store/bulk-writes.ts says why).
import { CompiledQuery } from 'kysely';
import { assert } from '../../core/errors.ts';
import {
  type BulkWrite,
  type BulkWriter,
  blocks,
  type Executor,
  quote,
  type StatementTexts,
} from '../bulk-writes.ts';

/**
 * SQLite's rows per statement. N rows go out as blocks of these sizes (300 = 256 + 16 + 16 + 4 + 4
 * + 4), so each table has at most five statement texts. 256 rows of 12 columns stay far below
 * SQLite's limit of 32,766 parameters.
 */
const SQLITE_BLOCK_SIZES = [256, 64, 16, 4, 1] as const;

export const sqliteBulkWriter: BulkWriter = async (db, writes, texts) => {
  for (const write of writes) await runWrite(db, write, texts);
};

async function runWrite(db: Executor, write: BulkWrite, texts: StatementTexts): Promise<void> {
  if (write.kind === 'delete') {
    for (const block of blocks(write.values, SQLITE_BLOCK_SIZES)) {
      const text = texts.get(`delete ${write.table} ${write.column} ${block.length}`, () => {
        const list = block.map(() => '?').join(', ');
        return `delete from ${quote(write.table)} where ${quote(write.column)} in (${list})`;
      });
      await db.executeQuery(CompiledQuery.raw(text, block));
    }
    return;
  }
  const names = Object.keys(write.columns);
  for (const block of blocks(write.rows, SQLITE_BLOCK_SIZES)) {
    const text = texts.get(`${write.kind} ${write.table} ${names} ${block.length}`, () => {
      const values = `values ${placeholders(block.length, names.length)}`;
      if (write.kind === 'insert') {
        return `insert into ${quote(write.table)} (${names.map(quote).join(', ')}) ${values}`;
      }
      // SQLite names the columns of a VALUES list column1, column2, …
      const [key, ...set] = names;
      assert(key !== undefined, `an update of ${write.table} names its key column first`);
      const assignments = set.map((name, i) => `${quote(name)} = v.column${i + 2}`).join(', ');
      return `update ${quote(write.table)} set ${assignments} from (${values}) as v where ${quote(write.table)}.${quote(key)} = v.column1`;
    });
    await db.executeQuery(CompiledQuery.raw(text, block.flat()));
  }
}

/** `(?, ?), (?, ?)`: SQLite's placeholders for `rows` rows of `width` values. */
function placeholders(rows: number, width: number): string {
  const tuple = `(${new Array(width).fill('?').join(', ')})`;
  return new Array(rows).fill(tuple).join(', ');
}
