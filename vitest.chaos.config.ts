import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the long fault-injection run, apart from `npm test`. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    // one file at a time: the load test pins cores and measures latency; the chaos run would disturb it
    fileParallelism: false,
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
  },
});
