// Where the dashboard's browser tests find Chromium, and how a machine without it gets it. Shared by
// the `pretest` step (scripts/ensure-chromium.ts) and the tests' launcher (test/dashboard/browser.ts).
import { spawnSync } from 'node:child_process';
import { accessSync, constants, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';

/** Executable names of Chromium and Chrome across Debian, Ubuntu, Fedora, Arch, Alpine and Google's packages. */
const NAMES = ['chromium', 'chromium-browser', 'google-chrome-stable', 'google-chrome', 'chrome'];

/** Where packages put Chromium outside PATH (Debian's real binary, snap, Google's /opt, macOS apps). */
const DIRECTORIES = [
  '/usr/bin',
  '/usr/local/bin',
  '/usr/lib/chromium',
  '/usr/lib/chromium-browser',
  '/usr/lib64/chromium-browser',
  '/snap/bin',
  '/opt/google/chrome',
  '/Applications/Chromium.app/Contents/MacOS',
  '/Applications/Google Chrome.app/Contents/MacOS',
];

/** A `--version` that takes longer than this does not count as a working browser. */
const VERSION_TIMEOUT_MS = 15_000;

/** Playwright's own downloads (`npx playwright install chromium`), newest first. */
function playwrightDirectories(env: NodeJS.ProcessEnv): string[] {
  const cache = env.PLAYWRIGHT_BROWSERS_PATH ?? join(homedir(), '.cache', 'ms-playwright');
  let entries: string[];
  try {
    entries = readdirSync(cache).filter((name) => /^chromium-\d+$/.test(name));
  } catch {
    return [];
  }
  entries.sort((a, b) => Number(b.slice(9)) - Number(a.slice(9)));
  return entries.flatMap((name) => [join(cache, name, 'chrome-linux64'), join(cache, name, 'chrome-linux')]);
}

/**
 * The directories searched, in order: CHROMIUM_SEARCH_PATH when set (a PATH-like list, which
 * replaces all the others), else PATH, the common install directories, then Playwright's downloads.
 */
export function searchDirectories(env: NodeJS.ProcessEnv = process.env): string[] {
  if (env.CHROMIUM_SEARCH_PATH !== undefined)
    return env.CHROMIUM_SEARCH_PATH.split(delimiter).filter(Boolean);
  const path = (env.PATH ?? '').split(delimiter).filter(Boolean);
  return [...new Set([...path, ...DIRECTORIES, ...playwrightDirectories(env)])];
}

function isExecutable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether `path` is a browser that runs: Ubuntu's /usr/bin/chromium-browser, for one, can be a
 * script that only says to install the snap.
 */
function runs(path: string): boolean {
  const result = spawnSync(path, ['--version'], { stdio: 'ignore', timeout: VERSION_TIMEOUT_MS });
  return result.status === 0;
}

/** The Chromium to launch: CHROMIUM_PATH when set, else the first that runs in searchDirectories(). */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.CHROMIUM_PATH) return isExecutable(env.CHROMIUM_PATH) ? env.CHROMIUM_PATH : null;
  for (const directory of searchDirectories(env)) {
    for (const name of NAMES) {
      const path = join(directory, name);
      if (isExecutable(path) && runs(path)) return path;
    }
  }
  return null;
}

/** A package manager that has Chromium under the name `chromium`, with its non-interactive install. */
interface PackageManager {
  program: string;
  /** Commands run in order, each as program and arguments. */
  commands: string[][];
  /** The same for a person to type. */
  hint: string;
}

const PACKAGE_MANAGERS: PackageManager[] = [
  {
    program: 'apt-get',
    // A fresh Debian or Ubuntu has no package lists yet.
    commands: [
      ['apt-get', 'update', '-q'],
      ['apt-get', 'install', '-y', '-q', '--no-install-recommends', 'chromium'],
    ],
    hint: 'apt-get update && apt-get install chromium',
  },
  { program: 'dnf', commands: [['dnf', 'install', '-y', 'chromium']], hint: 'dnf install chromium' },
  { program: 'apk', commands: [['apk', 'add', '--no-cache', 'chromium']], hint: 'apk add chromium' },
  {
    program: 'pacman',
    commands: [['pacman', '-S', '--noconfirm', '--needed', 'chromium']],
    hint: 'pacman -S chromium',
  },
  {
    program: 'zypper',
    commands: [['zypper', '--non-interactive', 'install', 'chromium']],
    hint: 'zypper install chromium',
  },
];

function onPath(program: string, env: NodeJS.ProcessEnv): boolean {
  return (env.PATH ?? '')
    .split(delimiter)
    .some((directory) => directory && isExecutable(join(directory, program)));
}

export interface InstallPlan {
  /**
   * The commands to run, each as program and arguments, with DEBIAN_FRONTEND=noninteractive in their
   * environment (`sudo -n env ...` where not root: sudo resets the environment).
   */
  commands: string[][];
  /** What a person types to install it (with sudo unless root). */
  hint: string;
  /** Whether this process may run the commands: as root, or with passwordless sudo. */
  allowed: boolean;
}

/** How Chromium would be installed here, or null where no known package manager is on PATH. */
export function installPlan(env: NodeJS.ProcessEnv = process.env): InstallPlan | null {
  const manager = PACKAGE_MANAGERS.find((candidate) => onPath(candidate.program, env));
  if (!manager) return null;
  const root = process.getuid?.() === 0;
  const sudo =
    !root && onPath('sudo', env) && spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore', env }).status === 0;
  return {
    commands: manager.commands.map((command) =>
      root ? command : ['sudo', '-n', 'env', 'DEBIAN_FRONTEND=noninteractive', ...command],
    ),
    hint: root ? manager.hint : manager.hint.replace(/(^|&& )/g, '$1sudo '),
    allowed: root || sudo,
  };
}
