import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { describe } from 'vitest';
import { resolveConfig, type CpcConfig, type CpcConfigInput } from '../src/cpc/config.js';
import { parseBackendChoice } from '../src/cpc/backend.js';

/**
 * The backend the engine tests run on: wasm, or with CPC_TEST_BACKEND=node (the
 * `native` project of vitest.config.ts) TensorFlow's native library through tfjs-node.
 */
export const TEST_BACKEND = parseBackendChoice(process.env.CPC_TEST_BACKEND ?? 'wasm');
export const ON_NATIVE = TEST_BACKEND === 'node' || TEST_BACKEND === 'node-gpu';

/** why `pkg` does not load in a fresh Node process here, or null when it does */
export function loadFailure(pkg: string): string | null {
  const r = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(pkg)})`], {
    cwd: join(import.meta.dirname, '..'),
    encoding: 'utf8',
  });
  if (r.status === 0) return null;
  return ((r.stderr || '').split('\n').find((l) => /Error|Cannot find/.test(l)) ?? `exit ${r.status}`).trim().slice(0, 160);
}

/** why the native backend cannot run here, or null */
function nativeUnavailable(): string | null {
  const pkg = TEST_BACKEND === 'node-gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
  const why = loadFailure(pkg);
  return (
    why && `${pkg} does not load here (${why}); install it with ../shared/native-tf/install.sh or npm install on a machine with internet`
  );
}

/** null when the engine tests can run on TEST_BACKEND, else the reason they are skipped */
export const BACKEND_SKIP_REASON = ON_NATIVE ? nativeUnavailable() : null;

/** `describe` for the engine suites that run on every backend: skipped (visibly) where TEST_BACKEND cannot load */
export const describeOnBackend = BACKEND_SKIP_REASON ? describe.skip : describe;

export function tempDir(prefix = 'cpc-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** A small but complete configuration: 28px grey digits, a narrow 3-layer encoder. */
export function tinyConfig(overrides: CpcConfigInput = {}): CpcConfig {
  return resolveConfig({
    seed: 3,
    imageSize: 28,
    color: 'grey',
    greySteps: 0,
    batchSize: 16,
    stepsPerEpoch: 10,
    epochs: 2,
    validationSteps: 2,
    checkpointEvery: 5,
    ...overrides,
    model: { filters: 8, convLayers: 3, hidden: 32, codeSize: 16, contextSize: 32, ...(overrides.model ?? {}) },
  });
}
