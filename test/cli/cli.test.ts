// The stockhold command as a user runs it: help, migrate, and clear one-line failures.
import { execFile } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { temporarySqliteUrl } from '../support/server.ts';

const run = promisify(execFile);
const BIN = join(import.meta.dirname, '../../bin/stockhold.mjs');

async function stockhold(args: string[], env: Record<string, string> = {}) {
  try {
    const { stdout, stderr } = await run(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
    });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    return { code: failed.code, stdout: failed.stdout, stderr: failed.stderr };
  }
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
