import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // The dashboard's browser tests need dist/dashboard (built only when missing or stale).
    globalSetup: ['test/dashboard/global-setup.ts'],
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // Two cores here: two test files at a time keeps the concurrency tests honest and the run short.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
