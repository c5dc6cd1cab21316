import { defineConfig } from 'vitest/config';

/** The end-to-end scenarios against a real cluster (test/e2e/run.sh). */
export default defineConfig({
  test: {
    include: ['test/e2e/**/*.test.ts'],
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
  },
});
