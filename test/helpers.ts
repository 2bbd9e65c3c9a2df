import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type CpcConfig, type CpcConfigInput } from '../src/cpc/config.js';

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
