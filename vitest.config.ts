import { configDefaults, defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // the chaos run has its own command (npm run test:chaos)
    exclude: [...configDefaults.exclude, 'test/chaos/**'],
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // the engine tests are CPU-bound: one file at a time per core
    maxWorkers: 2,
  },
});
