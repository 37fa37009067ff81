import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The one PostgreSQL server of the run (test/support/postgres.ts), and dist/dashboard for the
    // browser tests (built only when missing or stale).
    globalSetup: ['test/support/postgres-global-setup.ts', 'test/dashboard/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores here: two test files at a time keeps the concurrency tests honest and the run short.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
