// Test support for the dashboard: builds it when missing or stale, and drives Chromium (found where
// scripts/chromium.ts looks; `npm test` installs it first where it is missing).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium } from 'playwright-core';
import { findChromium } from '../../scripts/chromium.ts';
import { DASHBOARD_DIRECTORY } from '../../src/dashboard/serve.ts';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

function newestSourceMs(directory: string): number {
  let newest = 0;
  for (const entry of readdirSync(directory, { withFileTypes: true })) {
    const path = join(directory, entry.name);
    newest = Math.max(newest, entry.isDirectory() ? newestSourceMs(path) : statSync(path).mtimeMs);
  }
  return newest;
}

/** Runs `npm run build:dashboard` unless dist/dashboard is newer than every source file. */
export function buildDashboardIfStale(): void {
  const index = join(DASHBOARD_DIRECTORY, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestSourceMs(join(ROOT, 'src/dashboard'))) return;
  execFileSync('npm', ['run', '--silent', 'build:dashboard'], {
    cwd: ROOT,
    stdio: 'inherit',
    timeout: 120_000,
  });
}

export function launchChromium(): Promise<Browser> {
  const executablePath = findChromium();
  if (!executablePath) {
    // `npm test` runs the installer first; a bare `vitest run` does not.
    throw new Error('no Chromium found: run `npm run ensure-chromium` (or set CHROMIUM_PATH)');
  }
  return chromium.launch({
    executablePath,
    args: ['--no-sandbox', '--headless'],
    timeout: 60_000,
  });
}

export const TEST_RESULTS_DIRECTORY = join(ROOT, 'test-results');
