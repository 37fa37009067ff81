// PostgreSQL's bulk writes: all the writes of a transaction as ONE statement, each a data-modifying
// WITH part reading its rows from one JSON parameter, sent with COMMIT (pipelined-pool.ts; see
// src/store/bulk-writes.ts for the measurements).
import { CompiledQuery } from 'kysely';
import { assert } from '../../core/errors.ts';
import { type BulkWrite, type BulkWriter, quote } from '../bulk-writes.ts';
import { sqlTypeOf } from '../schema.ts';
import { ANSWER_AT_COMMIT } from './pipelined-pool.ts';

export const postgresBulkWriter: BulkWriter = async (db, writes, texts) => {
  const shape = writes
    .map((write) =>
      write.kind === 'delete'
        ? `delete ${write.table} ${write.column} ${write.type}`
        : `${write.kind} ${write.table} ${Object.entries(write.columns)} ${write.kind === 'insert' ? write.advisory_lock : ''}`,
    )
    .join(';');
  const text = texts.get(shape, () => {
    const parts = writes.map((write, i) => `w${i} as (${postgresWrite(write, i)})`);
    return `${ANSWER_AT_COMMIT}with ${parts.join(', ')} select 1`;
  });
  const parameters = writes.map((write) =>
    JSON.stringify(write.kind === 'delete' ? write.values : write.rows),
  );
  await db.executeQuery(CompiledQuery.raw(text, parameters));
};

/**
 * The write at `index` of the statement, as the WITH part `w<index>`: it reads its rows from the JSON
 * parameter $<index + 1> and returns one row per row written.
 */
function postgresWrite(write: BulkWrite, index: number): string {
  const parameter = index + 1;
  const table = quote(write.table);
  if (write.kind === 'delete') {
    const values = `select value::${write.type} from jsonb_array_elements_text($${parameter}::jsonb)`;
    return `delete from ${table} where ${quote(write.column)} in (${values}) returning 1`;
  }
  const names = Object.keys(write.columns);
  const values = Object.entries(write.columns)
    .map(([name, spec], i) => `(r->>${i})::${sqlTypeOf(spec)} as ${quote(name)}`)
    .join(', ');
  const rows = `select ${values} from jsonb_array_elements($${parameter}::jsonb) as r`;
  if (write.kind === 'update') {
    const [key, ...set] = names;
    assert(key !== undefined, `an update of ${write.table} names its key column first`);
    const assignments = set.map((name) => `${quote(name)} = v.${quote(name)}`).join(', ');
    return `update ${table} as t set ${assignments} from (${rows}) as v where t.${quote(key)} = v.${quote(key)} returning 1`;
  }
  const into = `insert into ${table} (${names.map(quote).join(', ')})`;
  if (write.advisory_lock === undefined) return `${into} ${rows} returning 1`;
  // The parts of a WITH run in no promised order. The lock's one row is made only after every
  // earlier part has written all its rows (it counts them): the lock is still taken after every
  // other lock of the transaction (a unique-key wait included), so it cannot join a deadlock. And
  // no row reaches this insert, to take an identity value, before the lock's row exists.
  const earlier = Array.from({ length: index }, (_, j) => `(select count(*) from w${j}) as c${j}`);
  const lock = `select pg_advisory_xact_lock(${Number(write.advisory_lock)}) as locked${earlier.length > 0 ? ` from ${earlier.join(', ')}` : ''}`;
  const columns = names.map((name) => `v.${quote(name)}`).join(', ');
  return `${into} select ${columns} from (${lock}) as lock, (${rows}) as v returning 1`;
}
