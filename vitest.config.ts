import { defineConfig } from 'vitest/config';

// Two projects: `unit` is fast and needs no servers; `integration` (and e2e) start real
// redis-server / postgres / Chromium processes, so they run in forked workers, at most two test
// files at a time (CI has 2 cores), with generous timeouts for server startup.
export default defineConfig({
  test: {
    reporters: ['default', './test/support/summary-reporter.ts'],
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts', 'test/e2e/**/*.test.ts'],
          environment: 'node',
          pool: 'forks',
          maxWorkers: 2,
          // its own group, after unit: vitest requires a separate group when maxWorkers differs
          sequence: { groupOrder: 1 },
          // one PostgreSQL and migrated databases to copy, for every file (test/support/iam.ts)
          globalSetup: ['test/support/global-setup.ts'],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
