// `npm test`'s pretest step: the dashboard's browser tests need Chromium. Where it is missing, it is
// installed with the system's package manager (as root, or with passwordless sudo), saying so in one
// line; where it cannot be, the run stops at once with one line naming the command to run.
import { spawnSync } from 'node:child_process';
import { findChromium, installPlan } from './chromium.ts';

/** apt-get on a fresh machine downloads the package lists and about 100 MB of packages. */
const INSTALL_TIMEOUT_MS = 15 * 60_000;
/** Of a failed install, the last output kept for the one-line message. */
const OUTPUT_KEPT_CHARACTERS = 64_000;

function stop(message: string): never {
  process.stderr.write(`stockhold: ${message}\n`);
  process.exit(1);
}

function lastLine(text: string): string {
  return (
    text
      .trim()
      .split('\n')
      .map((line) => line.trim())
      .filter(Boolean)
      .at(-1) ?? ''
  );
}

const found = findChromium();
if (!found && process.env.CHROMIUM_PATH) {
  stop(
    `CHROMIUM_PATH=${process.env.CHROMIUM_PATH} is not an executable file: point it at Chromium, or unset it`,
  );
}
if (!found) {
  const plan = installPlan();
  if (!plan) {
    stop(
      'the dashboard tests need Chromium, which is not installed: install it, or set CHROMIUM_PATH to its executable',
    );
  }
  if (!plan.allowed) {
    stop(
      `the dashboard tests need Chromium, which is not installed: run \`${plan.hint}\`, then npm test again`,
    );
  }
  process.stdout.write(
    `stockhold: Chromium is missing; installing it for the dashboard tests (${plan.hint})\n`,
  );
  for (const [program, ...args] of plan.commands) {
    const result = spawnSync(program as string, args, {
      encoding: 'utf8',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: INSTALL_TIMEOUT_MS,
      maxBuffer: 64 * 1024 * 1024,
    });
    if (result.status !== 0) {
      const output = `${result.stdout ?? ''}\n${result.stderr ?? ''}`.slice(-OUTPUT_KEPT_CHARACTERS);
      const cause = result.error ? result.error.message : `exit ${result.status ?? result.signal}`;
      stop(`installing Chromium failed (${cause}: ${lastLine(output)}); run \`${plan.hint}\` yourself`);
    }
  }
  if (!findChromium())
    stop(`Chromium was installed (${plan.hint}) but is not where the tests look: set CHROMIUM_PATH`);
}
