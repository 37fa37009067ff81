// The pretest step that gets the dashboard tests their Chromium (scripts/ensure-chromium.ts), run as
// `npm test` runs it, in a child process whose search path holds no Chromium.
import { spawn } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { findChromium } from '../../scripts/chromium.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const RUN_TIMEOUT_MS = 30_000;

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `npm test`'s pretest command (checked to be this one) with exactly `env`. */
function pretest(env: Record<string, string>): Promise<Result> {
  const scripts = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')).scripts;
  expect(scripts.pretest).toBe('tsx scripts/ensure-chromium.ts');
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/ensure-chromium.ts'], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: RUN_TIMEOUT_MS,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

function writeScript(path: string, body: string): void {
  writeFileSync(path, `#!/bin/sh\n${body}\n`);
  chmodSync(path, 0o755);
}

let directory: string;
/** An empty PATH directory: no Chromium, no package manager, no sudo. */
let bin: string;

beforeEach(() => {
  directory = mkdtempSync(join(tmpdir(), 'stockhold-chromium-'));
  bin = join(directory, 'bin');
  mkdirSync(bin);
});
afterEach(() => {
  rmSync(directory, { recursive: true, force: true });
});

describe('finding Chromium', () => {
  it('takes the first browser in the search path that answers --version, passing over a stub that does not', () => {
    const stub = join(directory, 'stub');
    const real = join(directory, 'real');
    mkdirSync(stub);
    mkdirSync(real);
    // Ubuntu's chromium-browser without the snap: an executable that only says to install it.
    writeScript(join(stub, 'chromium-browser'), 'echo "requires the chromium snap" >&2; exit 1');
    writeScript(join(real, 'google-chrome-stable'), 'echo "Google Chrome 1.0"');
    const search = [bin, stub, real].join(':');
    expect(findChromium({ CHROMIUM_SEARCH_PATH: search })).toBe(join(real, 'google-chrome-stable'));
    expect(findChromium({ CHROMIUM_SEARCH_PATH: [bin, stub].join(':') })).toBeNull();
  });

  it('uses CHROMIUM_PATH as given, and nothing when it is not an executable', () => {
    const browser = join(directory, 'my-chromium');
    writeScript(browser, 'exit 0');
    expect(findChromium({ CHROMIUM_PATH: browser, CHROMIUM_SEARCH_PATH: bin })).toBe(browser);
    expect(findChromium({ CHROMIUM_PATH: join(directory, 'missing'), PATH: '/usr/bin' })).toBeNull();
  });

  it('looks in PATH, then where Debian, Ubuntu, snap and Google put it', () => {
    const found = findChromium({ PATH: bin, HOME: directory });
    // This machine's own Chromium (the dashboard tests launch it), found without PATH's help.
    expect(found).toMatch(/^\/(usr|snap|opt)\//);
  });
});

describe('the pretest step', () => {
  it('stops at once with one line, exit code 1, where Chromium is missing and no package manager can install it', async () => {
    const result = await pretest({ PATH: bin, CHROMIUM_SEARCH_PATH: bin, HOME: directory });
    expect(result.code).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(
      'stockhold: the dashboard tests need Chromium, which is not installed: install it, or set CHROMIUM_PATH to its executable\n',
    );
  });

  it('stops with one line naming CHROMIUM_PATH when it points at nothing', async () => {
    const missing = join(directory, 'missing');
    const result = await pretest({ PATH: bin, CHROMIUM_PATH: missing, HOME: directory });
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(
      `stockhold: CHROMIUM_PATH=${missing} is not an executable file: point it at Chromium, or unset it\n`,
    );
  });

  it('with apt-get: installs Chromium as root in one line, or else names the command to run', async () => {
    // A stand-in apt-get whose install puts a browser where the lookup searches, and logs its calls.
    const log = join(directory, 'apt.log');
    const browsers = join(directory, 'browsers');
    mkdirSync(browsers);
    // Node, not sh: this PATH has no chmod.
    const apt = join(bin, 'apt-get');
    writeFileSync(
      apt,
      `#!${process.execPath}
const fs = require('node:fs');
const args = process.argv.slice(2);
fs.appendFileSync(${JSON.stringify(log)}, process.env.DEBIAN_FRONTEND + ' ' + args.join(' ') + '\\n');
if (args[0] === 'install') fs.writeFileSync(${JSON.stringify(join(browsers, 'chromium'))}, '#!/bin/sh\\nexit 0\\n', { mode: 0o755 });
`,
    );
    chmodSync(apt, 0o755);
    const env = { PATH: bin, CHROMIUM_SEARCH_PATH: browsers, HOME: directory };
    const result = await pretest(env);
    if (process.getuid?.() === 0) {
      expect(result.code).toBe(0);
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe(
        'stockhold: Chromium is missing; installing it for the dashboard tests (apt-get update && apt-get install chromium)\n',
      );
      expect(readFileSync(log, 'utf8')).toBe(
        'noninteractive update -q\nnoninteractive install -y -q --no-install-recommends chromium\n',
      );
      // Installed once: the next run finds it and says nothing.
      const again = await pretest(env);
      expect(again).toEqual({ code: 0, stdout: '', stderr: '' });
      expect(readFileSync(log, 'utf8').split('\n')).toHaveLength(3);
    } else {
      // Not root and no sudo on this PATH: nothing may install it.
      expect(result.code).toBe(1);
      expect(result.stderr).toBe(
        'stockhold: the dashboard tests need Chromium, which is not installed: run `sudo apt-get update && sudo apt-get install chromium`, then npm test again\n',
      );
      expect(existsSync(log)).toBe(false);
    }
  });

  it('stops with one line carrying the package manager’s last words when the install fails', async () => {
    writeScript(join(bin, 'apt-get'), 'echo "E: Unable to locate package chromium" >&2; exit 100');
    const result = await pretest({ PATH: bin, CHROMIUM_SEARCH_PATH: bin, HOME: directory });
    expect(result.code).toBe(1);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    if (process.getuid?.() === 0) {
      expect(lines[0]).toBe(
        'stockhold: installing Chromium failed (exit 100: E: Unable to locate package chromium); run `apt-get update && apt-get install chromium` yourself',
      );
    }
  });
});
