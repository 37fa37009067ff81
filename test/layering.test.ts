// The layer rules of biome.jsonc (docs/architecture.md, Layers) bite: Biome, with the project's own
// configuration, is run over a scratch copy of the folder layout holding one offending import per
// rule, and must name each one; the allowed imports beside them must pass.
import { execFile } from 'node:child_process';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KyselyStore } from '../src/store/kysely-store.ts';

const ROOT = resolve(import.meta.dirname, '..');
const BIOME = join(ROOT, 'node_modules', '.bin', 'biome');
const BIOME_TIMEOUT_MS = 60_000;

/** File (relative to the scratch root) -> its source. */
const FIXTURES: Record<string, string> = {
  'src/core/upward.ts': "import type { Store } from '../store/store.ts';\nexport type X = Store;\n",
  'src/core/cycle-a.ts': "import { B } from './cycle-b.ts';\nexport const A = () => B;\n",
  'src/core/cycle-b.ts': "import { A } from './cycle-a.ts';\nexport const B = () => A;\n",
  'src/store/allowed.ts':
    "import type { Kysely } from 'kysely';\nimport type { SkuState } from '../core/types.ts';\nexport type X = [Kysely<unknown>, SkuState];\n",
  'src/store/sqlite/upward.ts':
    "import type { AccessRule } from '../../http/access.ts';\nexport type X = AccessRule;\n",
  'src/store/to-config.ts': "import type { Config } from '../config.ts';\nexport type X = Config;\n",
  'src/config.ts': "import { bearerKey } from './security/api-keys.ts';\nexport const x = bearerKey;\n",
  'src/http/driver.ts': "import pg from 'pg';\nexport const x = pg;\n",
  'src/http/driver-subpath.ts': "import { sql } from 'kysely/helpers/postgres';\nexport const x = sql;\n",
  'src/http/upward.ts':
    "import type { KeyVerifier } from '../security/key-verifier.ts';\nexport type X = KeyVerifier;\n",
  // Code shape (issue 20): no non-null assertion, no function over 70 lines, in src only.
  'src/core/non-null.ts': 'export const first = (items: string[]) => items[0]!;\n',
  'src/core/long.ts': `export function long(): number {\n  let total = 0;\n${'  total += 1;\n'.repeat(71)}  return total;\n}\n`,
  'test/non-null.ts': 'export const first = (items: string[]) => items[0]!;\n',
  'src/webhooks/sibling.ts':
    "import type { Sweeper } from '../sweeper/sweeper.ts';\nexport type X = Sweeper;\n",
  // The files that were exceptions until issue 20 moved their SQL into src/store: the rule holds.
  'src/http/metrics.ts': "import { sql } from 'kysely';\nexport const x = sql;\n",
  'src/simulate/stockhold.ts': "import { sql } from 'kysely';\nexport const x = sql;\n",
  // The simulator's documented exception may use a driver.
  'src/simulate/legacy.ts': "import pg from 'pg';\nexport const x = pg;\n",
};

interface Diagnostic {
  category: string;
  message: string;
  location: { path: string };
}

let scratch: string;
let diagnostics: Diagnostic[];

function rulesOf(path: string): string[] {
  return diagnostics.filter((d) => d.location.path === path).map((d) => d.category);
}

function messagesOf(path: string): string[] {
  return diagnostics.filter((d) => d.location.path === path).map((d) => d.message);
}

beforeAll(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'stockhold-layering-'));
  copyFileSync(join(ROOT, 'biome.jsonc'), join(scratch, 'biome.jsonc'));
  for (const [path, source] of Object.entries(FIXTURES)) {
    mkdirSync(dirname(join(scratch, path)), { recursive: true });
    writeFileSync(join(scratch, path), source);
  }
  // Biome exits 1 when it finds errors, which is the point here: the report is read either way.
  const run = promisify(execFile)(BIOME, ['lint', '--vcs-enabled=false', '--reporter=json', '.'], {
    cwd: scratch,
    timeout: BIOME_TIMEOUT_MS,
    maxBuffer: 16 * 1024 * 1024,
  }).catch((error: { stdout?: string }) => ({ stdout: error.stdout ?? '' }));
  const { stdout } = await run;
  diagnostics = (JSON.parse(stdout) as { diagnostics: Diagnostic[] }).diagnostics;
});

afterAll(() => {
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('npm run check refuses', () => {
  it('an import of another folder from src/core', () => {
    expect(rulesOf('src/core/upward.ts')).toEqual(['lint/style/noRestrictedImports']);
    expect(messagesOf('src/core/upward.ts')[0]).toContain('src/core is the bottom layer');
  });

  it('a non-null assertion or a function over 70 lines in src, not in test', () => {
    expect(rulesOf('src/core/non-null.ts')).toEqual(['lint/style/noNonNullAssertion']);
    expect(rulesOf('src/core/long.ts')).toEqual(['lint/complexity/noExcessiveLinesPerFunction']);
    expect(rulesOf('test/non-null.ts')).toEqual([]);
  });

  it('an import cycle', () => {
    expect(rulesOf('src/core/cycle-a.ts')).toContain('lint/suspicious/noImportCycles');
    expect(rulesOf('src/core/cycle-b.ts')).toContain('lint/suspicious/noImportCycles');
  });

  it('an import of HTTP or of the config loader from src/store, however deep', () => {
    expect(rulesOf('src/store/sqlite/upward.ts')).toEqual(['lint/style/noRestrictedImports']);
    expect(rulesOf('src/store/to-config.ts')).toEqual(['lint/style/noRestrictedImports']);
    expect(messagesOf('src/store/to-config.ts')[0]).toContain('src/store sits below config');
  });

  it('an import of src/security from src/config.ts', () => {
    expect(messagesOf('src/config.ts')).toEqual([expect.stringContaining('src/config.ts sits below')]);
  });

  it('a database driver outside src/store, a subpath included', () => {
    expect(messagesOf('src/http/driver.ts')).toEqual([expect.stringContaining('Only src/store talks')]);
    expect(messagesOf('src/http/driver-subpath.ts')).toEqual([
      expect.stringContaining('Only src/store talks'),
    ]);
  });

  it('an import from a higher layer or a sibling', () => {
    expect(messagesOf('src/http/upward.ts')).toEqual([
      expect.stringContaining('src/http sits below security'),
    ]);
    expect(messagesOf('src/webhooks/sibling.ts')).toEqual([expect.stringContaining('beside src/sweeper')]);
  });

  it('a driver in the files that were exceptions before issue 20 (metrics, the simulated shop)', () => {
    expect(messagesOf('src/http/metrics.ts')).toEqual([expect.stringContaining('Only src/store talks')]);
    expect(messagesOf('src/simulate/stockhold.ts')).toEqual([
      expect.stringContaining('Only src/store talks'),
    ]);
  });
});

describe('npm run check accepts', () => {
  it('a driver and src/core imported from src/store', () => {
    expect(rulesOf('src/store/allowed.ts')).toEqual([]);
  });

  it("a driver in the simulator's legacy shop, its one documented exception", () => {
    expect(rulesOf('src/simulate/legacy.ts')).toEqual([]);
  });
});

/** Every .ts file under `folder` (relative to the repository), recursively. */
function sourcesUnder(folder: string): string[] {
  return readdirSync(join(ROOT, folder), { recursive: true, encoding: 'utf8' })
    .filter((path) => path.endsWith('.ts'))
    .map((path) => join(folder, path));
}

// Biome sees imports, not property reads: the store's raw handles are held back by these.
describe('the store is the only door to the database', () => {
  it('hands out no raw Kysely handle', () => {
    const members = Object.getOwnPropertyNames(KyselyStore.prototype);
    expect(members).not.toContain('database');
    expect(members).not.toContain('read_database');
  });

  it('is not reached around by any file of src outside src/store', () => {
    const DRIVER_EXCEPTIONS = ['src/simulate/simulation.ts', 'src/simulate/legacy.ts'];
    const raw_handle = /\.(read_)?database\b(?!_)|\bread_db\b|\brawDatabase\b|\bKysely\b|\['db'\]/;
    const offenders = sourcesUnder('src')
      .filter((path) => !path.startsWith(`src${sep}store${sep}`) && !DRIVER_EXCEPTIONS.includes(path))
      .filter((path) =>
        readFileSync(join(ROOT, path), 'utf8')
          .split('\n')
          .some((line) => raw_handle.test(line) && !/\bresult\.database\b/.test(line)),
      );
    expect(offenders).toEqual([]);
  });
});
