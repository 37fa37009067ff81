// The databases stockhold runs on: one folder each (src/store/<name>/, the same files for the same
// roles), one line each here. Shared code asks a Dialect or its adapter's capabilities, never a name.
import { assert } from '../core/errors.ts';
import { postgresDialect } from './postgres/dialect.ts';
import { sqliteDialect } from './sqlite/dialect.ts';

/** In the order DATABASE_URL is offered to them: the first that recognises it opens it. */
export const DIALECTS = [sqliteDialect, postgresDialect] as const;

/** A database's label (logs, metrics, test names). */
export type DialectName = (typeof DIALECTS)[number]['name'];

/** Where a DATABASE_URL points, as the database it names reads it. */
export type DatabaseLocation = NonNullable<ReturnType<(typeof DIALECTS)[number]['locate']>>;

export function dialectNamed(name: DialectName): (typeof DIALECTS)[number] {
  const dialect = DIALECTS.find((candidate) => candidate.name === name);
  assert(dialect !== undefined, `the database ${name} is registered in src/store/dialects.ts`);
  return dialect;
}
