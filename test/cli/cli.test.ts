// The stockhold command as a user runs it: help, migrate, and clear one-line failures.
import { existsSync, rmSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { runStockhold } from '../support/cli.ts';
import { temporarySqliteUrl } from '../support/server.ts';

function stockhold(args: string[], env: Record<string, string> = {}) {
  return runStockhold(args, { ...process.env, ...env });
}

describe('the stockhold command', () => {
  it('prints help naming its commands', async () => {
    const { code, stdout } = await stockhold(['--help']);
    expect(code).toBe(0);
    for (const command of ['serve', 'migrate', 'verify']) expect(stdout).toContain(command);
  });

  it('migrates a new SQLite file, and verify finds it consistent', async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      const migrated = await stockhold(['migrate', '--database-url', url]);
      expect(migrated.code).toBe(0);
      expect(migrated.stdout).toContain('migrated');
      expect(existsSync(url.slice('sqlite:'.length))).toBe(true);
      const verified = await stockhold(['verify', '--database-url', url]);
      expect(verified.code).toBe(0);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('stops with one line naming a bad configuration key, no stack trace', async () => {
    const { code, stderr } = await stockhold(['serve'], { PORT: 'abc' });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('stockhold: invalid configuration: PORT = "abc": must be integer');
  });
});
