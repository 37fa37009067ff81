// Which stores a test run covers: both unless STOCKHOLD_TEST_DIALECTS narrows them (the fast run,
// npm run test:fast, sets `sqlite`). Read by the store helpers and the PostgreSQL global setup.
import type { DialectName } from '../../src/store/migrations.ts';

const ALL: readonly DialectName[] = ['sqlite', 'postgres'];

export function testDialects(env: NodeJS.ProcessEnv = process.env): readonly DialectName[] {
  const wanted = env.STOCKHOLD_TEST_DIALECTS?.trim();
  if (!wanted) return ALL;
  const names = wanted.split(',').map((name) => name.trim());
  const unknown = names.filter((name) => !(ALL as readonly string[]).includes(name));
  if (unknown.length > 0 || names.length === 0) {
    throw new Error(`STOCKHOLD_TEST_DIALECTS=${wanted}: each name must be one of ${ALL.join(', ')}`);
  }
  return ALL.filter((dialect) => names.includes(dialect));
}
