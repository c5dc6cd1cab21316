import { defineConfig } from 'vitest/config';

/** The fault suite (npm run test:faults): real processes, Redis, SQS and the simulated cluster. */
export default defineConfig({
  test: {
    include: ['test/faults/**/*.test.ts'],
    testTimeout: 180_000,
    hookTimeout: 60_000,
    pool: 'forks',
    fileParallelism: true,
    maxWorkers: 2,
  },
});
