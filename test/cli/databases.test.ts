// The commands that read a database refuse one that does not exist (a typo in the URL must not get a
// new empty database, nor a key the server never reads); only `migrate --create` makes one. Each says
// on stderr which database it used, its password redacted.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliResult, expectOneLineFailure, runStockhold } from '../support/cli.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

/** Each test starts several whole node processes; on a busy machine each takes seconds. */
const CLI_TEST_TIMEOUT_MS = 240_000;

function stockhold(args: string[]): Promise<CliResult> {
  const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: 'silent' };
  for (const key of ['DATABASE_URL', 'PGUSER', 'PGPASSWORD', 'STOCKHOLD_CONFIG']) delete env[key];
  return runStockhold(args, env);
}

describe('a SQLite path that does not exist', () => {
  let directory: string;
  beforeAll(() => {
    directory = mkdtempSync(join(tmpdir(), 'stockhold-cli-missing-'));
  });
  afterAll(() => rmSync(directory, { recursive: true, force: true }));

  it('is refused by verify, keys and migrate with one line naming it and the fix, and nothing is created', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    // The typo: a directory that does not exist either.
    const typo = join(directory, 'dta');
    const url = `sqlite:${join(typo, 'stockhold.db')}`;
    const runs = await Promise.all([
      stockhold(['verify', '--database-url', url]),
      stockhold(['keys', 'create', '--scope', 'admin', '--name', 'ops', '--database-url', url]),
      stockhold(['keys', 'list', '--database-url', url]),
      stockhold(['migrate', '--database-url', url]),
    ]);
    for (const result of runs) {
      const line = expectOneLineFailure(result);
      expect(line).toBe(
        `stockhold: SQLite file ${join(typo, 'stockhold.db')} does not exist: check --database-url ` +
          '(or DATABASE_URL), or create it with `stockhold migrate --create` (or start the server once: npm start)',
      );
      expect(result.stdout).toBe('');
    }
    expect(existsSync(typo)).toBe(false);
  });
});

describe('a PostgreSQL database that does not exist', () => {
  let existing: TestDatabase;
  let missing_url: URL;
  const password = 'not-shown-anywhere';
  beforeAll(async () => {
    existing = await createTestDatabase('stockhold_cli');
    missing_url = new URL(existing.url);
    missing_url.pathname = `${missing_url.pathname}_new`;
    // The local server trusts every connection: a password in the URL is accepted and must never show.
    if (missing_url.password === '') missing_url.password = password;
  });
  afterAll(async () => {
    const admin = new pg.Client({ connectionString: existing.url });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS "${missing_url.pathname.slice(1)}" WITH (FORCE)`);
    await admin.end();
    await existing.drop();
  });

  it('is refused by verify with one line naming it; migrate --create creates it; verify then uses it', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const name = missing_url.pathname.slice(1);
    const shown = new URL(missing_url);
    shown.password = '***';
    const refused = await stockhold(['verify', '--database-url', missing_url.toString()]);
    expect(expectOneLineFailure(refused)).toBe(
      `stockhold: cannot open the database (PostgreSQL at ${shown}): database "${name}" does not exist; ` +
        'create it with `stockhold migrate --create`',
    );

    const created = await stockhold(['migrate', '--create', '--database-url', missing_url.toString()]);
    expect(created).toMatchObject({ code: 0, stdout: 'stockhold: the postgres database is migrated\n' });
    expect(created.stderr).toBe(`stockhold: created PostgreSQL at ${shown}\n`);

    const verified = await stockhold(['verify', '--json', '--database-url', missing_url.toString()]);
    expect(verified.code).toBe(0);
    expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, skus_checked: 0 });
    expect(verified.stderr).toBe(`stockhold: using PostgreSQL at ${shown}\n`);
    expect(verified.stderr + created.stderr + refused.stderr).not.toContain(missing_url.password);
  });

  it('simulate against a role the server does not know stops with one line, before any output', {
    timeout: CLI_TEST_TIMEOUT_MS,
  }, async () => {
    const wrong = new URL(existing.url);
    wrong.username = 'nobody';
    wrong.password = 'wrong';
    const result = await stockhold(['simulate', '--database-url', wrong.toString(), '--no-progress']);
    const line = expectOneLineFailure(result);
    expect(line).toMatch(/^stockhold: cannot open the database \(PostgreSQL at postgres:\/\/nobody:\*\*\*@/);
    expect(line).toContain('"nobody"');
    expect(line).not.toContain('wrong');
    expect(result.stdout).toBe('');
  });
});
