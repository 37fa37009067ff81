// The README's quickstart, run as written: every `sh` block under "## Quickstart", in order, in one
// shell against a real server on a fresh SQLite file, each block's output checked against the
// outputs the README shows in its `# → …` comments.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './support/postgres-server.ts';
import { startTestServer, type TestServer } from './support/server.ts';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
/** The whole quickstart, three `npx stockhold` starts included, on a loaded 2-core machine: a bound. */
const SCRIPT_TIMEOUT_MS = 150_000;

interface Block {
  code: string;
  /** What the README shows the block prints: the text after each `# →`, `…` marking what varies. */
  shown: string[];
}

function quickstartBlocks(readme: string): Block[] {
  const start = readme.indexOf('\n## Quickstart\n');
  expect(start, 'the README has a "## Quickstart" section').toBeGreaterThan(0);
  const end = readme.indexOf('\n## ', start + 1);
  const section = readme.slice(start, end === -1 ? undefined : end);
  return [...section.matchAll(/```sh\n([\s\S]*?)```/g)].map(([, code]) => ({
    code: code!,
    // An output comment ends at the line's end, or at two spaces before a note in brackets.
    shown: [...code!.matchAll(/# → (.*?)(?: {2,}\(.*\))?$/gm)].map(([, text]) => text!.trim()),
  }));
}

/** Runs `script` in bash in a process group of its own, so the whole group can be stopped at the end. */
function runBash(
  script: string,
  env: NodeJS.ProcessEnv,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env, detached: true });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk) => (stdout += chunk));
    child.stderr.on('data', (chunk) => (stderr += chunk));
    const stopGroup = () => {
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // the group has already exited
      }
    };
    const timer = setTimeout(stopGroup, SCRIPT_TIMEOUT_MS);
    child.on('close', (code) => {
      clearTimeout(timer);
      stopGroup(); // a background receiver that outlived the script
      resolve({ code, stdout, stderr });
    });
  });
}

let server: TestServer;

beforeAll(async () => {
  // No key cache: the quickstart creates a key and expects the very next call to need one.
  server = await startTestServer({ env: { API_KEY_CACHE_TTL_MS: '0', LOG_LEVEL: 'silent' } });
});

afterAll(() => server?.dispose());

describe('the README quickstart', () => {
  it('runs every shell block as written against a real server and prints what the README shows', {
    timeout: SCRIPT_TIMEOUT_MS + 30_000,
  }, async () => {
    const blocks = quickstartBlocks(readFileSync(`${ROOT}README.md`, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(5);
    for (const block of blocks) expect(block.shown.length, block.code).toBeGreaterThan(0);

    const hook_port = await freePort();
    const marker = (index: number) => `::readme-block-${index}::`;
    const script = [
      'set -euo pipefail',
      ...blocks.flatMap((block, index) => [`echo '${marker(index)}'`, block.code]),
      `echo '${marker(blocks.length)}'`,
    ].join('\n');
    const { code, stdout, stderr } = await runBash(script, {
      ...process.env,
      STOCKHOLD_URL: server.url,
      DATABASE_URL: server.database_url,
      HOOK_PORT: String(hook_port),
    });
    expect(code, `exit code; stderr: ${stderr}`).toBe(0);

    for (const [index, block] of blocks.entries()) {
      const from = stdout.indexOf(marker(index));
      const to = stdout.indexOf(marker(index + 1));
      expect(from, `block ${index} ran`).toBeGreaterThanOrEqual(0);
      expect(to, `block ${index} finished`).toBeGreaterThan(from);
      const output = stdout.slice(from, to);
      for (const shown of block.shown) {
        // The README's examples use the default receiver port; this run's receiver is elsewhere.
        const expected = shown.replaceAll('127.0.0.1:4000', `127.0.0.1:${hook_port}`);
        for (const part of expected.split('…')) {
          expect(output, `block ${index} shows ${shown}`).toContain(part);
        }
      }
    }
    // The quickstart left the server's books straight.
    const audit = await server.store.audit();
    expect(audit.problems).toEqual([]);
    expect(audit.skus_checked).toBe(2);
  });
});
