import { defineConfig } from 'vitest/config';

/** `npm run test:chaos`: the long fault-injection run, apart from `npm test`. */
export default defineConfig({
  test: {
    include: ['test/chaos/**/*.test.ts'],
    pool: 'forks',
    testTimeout: 30 * 60_000,
    hookTimeout: 120_000,
  },
});
