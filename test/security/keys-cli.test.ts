// stockhold keys as an operator runs it: create prints the key once, list never shows it, revoke
// by prefix; the database holds only the hash.
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { expect, it } from 'vitest';
import { hashApiKey } from '../../src/security/api-keys.ts';
import { runStockhold } from '../support/cli.ts';
import { temporarySqliteUrl } from '../support/server.ts';

const stockhold = (args: string[]) => runStockhold(args);

it('creates a key shown once, lists it without the secret, and revokes it by prefix (three runs)', async () => {
  const { url, directory } = temporarySqliteUrl();
  try {
    // keys refuses a database that does not exist (a key the server never reads): make it first.
    expect((await stockhold(['migrate', '--create', '--database-url', url])).code).toBe(0);
    const created = await stockhold([
      'keys',
      'create',
      '--scope',
      'checkout',
      '--name',
      'storefront',
      '--database-url',
      url,
    ]);
    expect(created.code).toBe(0);
    const key = created.stdout.split('\n')[0]!;
    expect(key).toMatch(/^sh_checkout_[A-Za-z0-9_-]{43}$/);
    expect(created.stdout).toContain('only time the key is shown');

    const listed = await stockhold(['keys', 'list', '--database-url', url]);
    expect(listed.stdout).toContain('storefront');
    expect(listed.stdout).toContain(key.slice(0, 20));
    expect(listed.stdout).not.toContain(key);
    // The main file and its write-ahead log (SQLite runs in WAL mode).
    const path = url.slice('sqlite:'.length);
    const database = Buffer.concat(
      [path, `${path}-wal`].filter((file) => existsSync(file)).map((file) => readFileSync(file)),
    );
    expect(database.includes(key)).toBe(false);
    expect(database.includes(hashApiKey(key))).toBe(true);

    const revoked = await stockhold(['keys', 'revoke', key.slice(0, 20), '--database-url', url]);
    expect(revoked.code).toBe(0);
    expect(revoked.stdout).toContain('revoked checkout key');
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
});
