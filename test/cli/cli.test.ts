// The stockhold command as a user runs it: help, version, migrate, clear one-line failures, and
// `serve` started without the node flag the server needs.
import { once } from 'node:events';
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runStockhold, startServe } from '../support/cli.ts';
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

  it('prints its version with --version and -V', async () => {
    const { version } = JSON.parse(readFileSync(join(import.meta.dirname, '../../package.json'), 'utf8'));
    const [long, short] = await Promise.all([stockhold(['--version']), stockhold(['-V'])]);
    expect(long).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' });
    expect(short).toEqual(long);
  });

  it('names each default once in help (commander adds "(default: x)" itself)', async () => {
    const { code, stdout } = await stockhold(['simulate', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/--concurrency <n> .*\(default: 200\)/s);
    expect(stdout).toContain('(default: 1212)');
    expect(stdout).not.toMatch(/\(default \d/);
  });

  it('migrate --create makes a new SQLite file and says so; verify then says which file it read', {
    // Two CLI runs that open a database: seconds each on a busy machine.
    timeout: 180_000,
  }, async () => {
    const { url, directory } = temporarySqliteUrl();
    try {
      const path = url.slice('sqlite:'.length);
      const migrated = await stockhold(['migrate', '--create', '--database-url', url]);
      expect(migrated.code).toBe(0);
      expect(migrated.stdout).toBe('stockhold: the sqlite database is migrated\n');
      expect(migrated.stderr).toBe(`stockhold: created SQLite file ${path}\n`);
      expect(existsSync(path)).toBe(true);
      const verified = await stockhold(['verify', '--json', '--database-url', url]);
      expect(verified.code).toBe(0);
      // stdout is the report alone: the database used goes to stderr.
      expect(JSON.parse(verified.stdout)).toMatchObject({ ok: true, skus_checked: 0 });
      expect(verified.stderr).toBe(`stockhold: using SQLite file ${path}\n`);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  });

  it('stops with one line naming a bad configuration key, no stack trace', async () => {
    const { code, stderr } = await stockhold(['serve'], { PORT: 'abc' });
    expect(code).toBe(2);
    expect(stderr.trim()).toBe('stockhold: invalid configuration: PORT = "abc": must be integer');
  });

  describe('serve started without --max-semi-space-size (a shebang cannot pass it portably)', () => {
    const servingWithoutFlag = async (directory_url: string) => {
      const serve = await startServe({ DATABASE_URL: directory_url }, 120_000, []);
      const serving = serve.output
        .filter((line) => line.startsWith('{'))
        .map((line) => JSON.parse(line) as { msg?: string; node_flags?: string[] })
        .find((entry) => entry.msg === 'stockhold is serving');
      return { serve, node_flags: serving?.node_flags };
    };

    it('runs the server again with the flag, which stops gracefully with the SIGTERM its parent gets', async () => {
      const { url, directory } = temporarySqliteUrl();
      try {
        const { serve, node_flags } = await servingWithoutFlag(url);
        expect(node_flags).toContain('--max-semi-space-size=64');
        expect((await fetch(`${serve.url}/readyz`)).status).toBe(200);
        const exited = once(serve.child, 'exit');
        serve.child.kill('SIGTERM');
        expect(await exited).toEqual([0, null]);
        // The listener closes before the last log line is written: wait for the line too.
        await expect
          .poll(() => serve.output.join('\n'), { timeout: 10_000, interval: 100 })
          .toContain('stockhold stopped');
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });

    it('the server stops by itself when the process that started it is killed outright', async () => {
      const { url, directory } = temporarySqliteUrl();
      try {
        const { serve } = await servingWithoutFlag(url);
        serve.child.kill('SIGKILL');
        await expect
          .poll(
            () =>
              fetch(`${serve.url}/readyz`).then(
                () => 'serving',
                () => 'stopped',
              ),
            {
              timeout: 20_000,
              interval: 200,
            },
          )
          .toBe('stopped');
        // The listener closes before the last log line is written: wait for the line too.
        await expect
          .poll(() => serve.output.join('\n'), { timeout: 10_000, interval: 100 })
          .toContain('stockhold stopped');
      } finally {
        rmSync(directory, { recursive: true, force: true });
      }
    });
  });
});
