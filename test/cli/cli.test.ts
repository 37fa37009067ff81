// The stockhold command as a user runs it: help, migrate, clear one-line failures, and `serve`
// started without the node flag the server needs.
import { once } from 'node:events';
import { existsSync, rmSync } from 'node:fs';
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
