import { configDefaults, defineConfig } from 'vitest/config';

/**
 * Two projects: `wasm` runs every test (the engine on the wasm fallback, the
 * service, the CLI); `native` runs the engine suites again on TensorFlow's
 * native library (tfjs-node), and the service's training path once with
 * CPC_BACKEND=node. Where tfjs-node does not load, the native suites are
 * skipped and test/native-backend.test.ts says why.
 */
const ENGINE_SUITES = [
  'test/gradients.test.ts',
  'test/training.test.ts',
  'test/export.test.ts',
  'test/losses.test.ts',
  'test/probe.test.ts',
  'test/adam.test.ts',
];

export default defineConfig({
  test: {
    pool: 'forks',
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // the engine tests are CPU-bound: one file at a time per core
    maxWorkers: 2,
    projects: [
      {
        extends: true,
        test: {
          name: 'wasm',
          include: ['test/**/*.test.ts'],
          // the chaos run has its own command (npm run test:chaos)
          exclude: [...configDefaults.exclude, 'test/chaos/**', 'test/native-backend.test.ts', 'test/service/native-training.test.ts'],
        },
      },
      {
        extends: true,
        test: {
          name: 'native',
          include: [...ENGINE_SUITES, 'test/native-backend.test.ts', 'test/service/native-training.test.ts'],
          env: { CPC_TEST_BACKEND: 'node' },
        },
      },
    ],
  },
});
