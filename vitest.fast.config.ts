import { defineConfig } from 'vitest/config';

// npm run test:fast: the pure core and the store contract (with the command queue) on SQLite only,
// well under a minute. The full `npm test` (vitest.config.ts) still runs every file on both stores.
// Set here, before the global setup and the workers read it; an explicit value still wins.
process.env.STOCKHOLD_TEST_DIALECTS ??= 'sqlite';

export default defineConfig({
  test: {
    include: ['test/core/**/*.test.ts', 'test/store/contract.test.ts', 'test/store/command-queue.test.ts'],
    globalSetup: ['test/support/postgres-global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    maxWorkers: 2,
    reporters: ['default'],
  },
});
