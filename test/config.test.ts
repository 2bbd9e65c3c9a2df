import { describe, it, expect } from 'vitest';
import {
  resolveConfig,
  upgradeStoredConfig,
  valueText,
  DEFAULT_CONFIG,
  MAX_STEP_ACTIVATION,
  MAX_PARAMETERS,
  ConfigError,
  parameterCount,
} from '../src/cpc/config.js';
import { CpcNetwork } from '../src/cpc/model.js';
import { resumedConfig } from '../src/cpc/train-run.js';
import { checkProbeSize, MAX_PROBE_VALUES } from '../src/cpc/probe.js';

describe('run configuration', () => {
  it("starts from a preset: 'seed' is the seed's binary loss from scratch; explicit fields win, and the job records it", () => {
    const seed = resolveConfig({ preset: 'seed' });
    expect(seed).toMatchObject({
      preset: 'seed',
      loss: 'binary',
      positiveFraction: 0.5,
      greySteps: 0,
      negatives: 'step',
      sameClassNegatives: 'keep',
    });
    expect(resolveConfig({ preset: 'seed', greySteps: 300 }).greySteps).toBe(300);
    // the binary loss alone gets the negatives it needs; infonce uses every sequence
    expect(resolveConfig({ loss: 'binary' }).positiveFraction).toBe(0.5);
    expect(resolveConfig({ loss: 'binary', positiveFraction: 0.25 }).positiveFraction).toBe(0.25);
    expect(resolveConfig({}).positiveFraction).toBe(1);
    // a resolved config resolves to itself (the worker re-resolves the stored one)
    expect(resolveConfig(seed)).toEqual(seed);
    expect(resolveConfig({})).toEqual(DEFAULT_CONFIG);
    expect(() => resolveConfig({ preset: 'fast' as never })).toThrow(/preset must be one of "default", "seed"/);
    // the seed's InfoNCE, when asked for, uses every sequence (0.5 is the binary loss's need)
    expect(resolveConfig({ preset: 'seed', loss: 'infonce' })).toMatchObject({ positiveFraction: 1, negatives: 'step' });
    expect(() => resolveConfig({ loss: 'binary', positiveFraction: 1 })).toThrow(/batchSize 32 x positiveFraction 1 gives 32 positives/);
    expect(() => resolveConfig({ loss: 'binary', similarity: 'cosine' })).toThrow(/similarity "cosine" is for loss "infonce"/);
    // InfoNCE scores by cosine at temperature 0.1 and decays its rate; the binary loss and the seed score by dot products at scale 1
    expect(resolveConfig({})).toMatchObject({ similarity: 'cosine', logitScale: 10, lrSchedule: 'cosine' });
    expect(resolveConfig({ loss: 'binary' })).toMatchObject({ similarity: 'dot', logitScale: 1, lrSchedule: 'cosine' });
    expect(seed).toMatchObject({ similarity: 'dot', logitScale: 1, lrSchedule: 'plateau', augment: 'none' });
    expect(resolveConfig({ similarity: 'dot' }).logitScale).toBe(1);
    expect(resolveConfig({ similarity: 'dot', logitScale: 3 }).logitScale).toBe(3);
    expect(resolveConfig({ preset: 'seed', loss: 'infonce', similarity: 'cosine' }).logitScale).toBe(10);
    expect(() => resolveConfig({ preset: 'seed', similarity: 'cosine' })).toThrow(/\(preset "seed" sets loss "binary"\)/);
    // the rate only decays: its floor follows a small rate down, and a floor above the rate is refused
    expect(resolveConfig({ learningRate: 1e-5 }).minLearningRate).toBeCloseTo(1e-6, 12);
    expect(resolveConfig({ learningRate: 3e-3 }).minLearningRate).toBe(1e-4);
    expect(() => resolveConfig({ learningRate: 1e-3, minLearningRate: 0.5 })).toThrow(/minLearningRate 0.5 is above learningRate 0.001/);
    // a number JSON cannot write (1e309 parses to Infinity) is named as itself, not as null
    expect(() => resolveConfig({ logitScale: Infinity })).toThrow(/logitScale must be a finite number, got Infinity$/);
    expect(valueText({ logitScale: -Infinity, grid: [NaN, 1, 'x'] })).toBe('{"logitScale":-Infinity,"grid":[NaN,1,"x"]}');
  });

  it('runs a config stored before the InfoNCE candidate, schedule and augmentation fields as it ran then, and leaves a current one alone', () => {
    const old = { ...DEFAULT_CONFIG, loss: 'infonce', positiveFraction: 0.5 } as Record<string, unknown>;
    delete old.negatives;
    delete old.sameClassNegatives;
    delete old.preset;
    delete old.lrSchedule;
    delete old.similarity;
    delete old.augment;
    expect(resolveConfig(upgradeStoredConfig(old))).toMatchObject({
      augment: 'none',
      loss: 'infonce',
      negatives: 'step',
      sameClassNegatives: 'keep',
      lrSchedule: 'plateau',
      similarity: 'dot',
      preset: 'default',
    });
    expect(upgradeStoredConfig({ ...DEFAULT_CONFIG })).toEqual(DEFAULT_CONFIG);
    // a floor above the rate was accepted then; it runs with the rate as its floor
    expect(resolveConfig(upgradeStoredConfig({ ...DEFAULT_CONFIG, learningRate: 1e-5, minLearningRate: 1e-4 })).minLearningRate).toBe(1e-5);
  });

  it("resumes a checkpoint's recipe on the resuming machine: its data directory and worker threads", () => {
    const stored = resolveConfig({ seed: 4, learningRate: 3e-4, workers: 2, dataDir: '/machine-a/cache/abc' });
    const here = resolveConfig({ seed: 9, learningRate: 1e-2, workers: 1, dataDir: '/machine-b/cache/abc' });
    expect(resumedConfig(stored, here)).toEqual({ ...stored, workers: 1, dataDir: '/machine-b/cache/abc' });
    // no directory named here: the checkpoint's, else the default (as for a new run)
    const { dataDir: _, ...nowhere } = here;
    expect(resumedConfig(stored, nowhere).dataDir).toBe('/machine-a/cache/abc');
    expect(resumedConfig({ ...stored, dataDir: undefined }, nowhere).dataDir).toBeUndefined(); // the default data
    // threads that cannot split the run's batch (its own, whatever here's is)
    expect(() => resumedConfig({ ...stored, batchSize: 16 }, { ...here, batchSize: 48, workers: 3 })).toThrow(
      "the run's batchSize 16 must be divisible by workers 3",
    );
    // a checkpoint older than a field keeps the old behaviour (upgradeStoredConfig)
    const old: Record<string, unknown> = { ...stored };
    delete old.similarity;
    expect(resumedConfig(old as unknown as typeof stored, here).similarity).toBe('dot');
  });

  it('gives 28px images 3 conv layers unless told otherwise (4 do not fit)', () => {
    expect(resolveConfig({ imageSize: 28 }).model.convLayers).toBe(3);
    expect(resolveConfig({ imageSize: 28, model: { convLayers: 2 } }).model.convLayers).toBe(2);
    expect(resolveConfig({}).model.convLayers).toBe(DEFAULT_CONFIG.model.convLayers);
    expect(() => resolveConfig({ imageSize: 28, model: { convLayers: 4 } })).toThrow(/do not fit a 28px image/);
  });

  it('refuses a step too large for memory, and the defaults use a quarter of the bound at most', () => {
    const first = Math.floor((64 - 3) / 2) + 1;
    const defaults =
      DEFAULT_CONFIG.batchSize * (DEFAULT_CONFIG.terms + DEFAULT_CONFIG.predictTerms) * first * first * DEFAULT_CONFIG.model.filters;
    expect(defaults).toBeLessThanOrEqual(MAX_STEP_ACTIVATION / 4);
    const huge = { batchSize: 256, terms: 16, predictTerms: 16 };
    expect(() => resolveConfig(huge)).toThrow(ConfigError);
    expect(() => resolveConfig(huge)).toThrow(/step would be too large: 8192 images/);
    // the same batch of 28px grey images with few filters fits
    expect(() => resolveConfig({ batchSize: 256, imageSize: 28, model: { filters: 8 } })).not.toThrow();
  });

  it('counts the parameters the network really has, and refuses a model too large to train', () => {
    for (const config of [
      resolveConfig({}),
      resolveConfig({ imageSize: 28, predictTerms: 2, model: { filters: 8, hidden: 32, codeSize: 16, contextSize: 24 } }),
    ]) {
      const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, 1);
      const actual = [...network.allVariables().values()].reduce((n, v) => n + v.size, 0);
      network.dispose();
      expect(parameterCount(config)).toBe(actual);
    }
    expect(parameterCount(resolveConfig({}))).toBeLessThan(MAX_PARAMETERS / 16);
    // a review's config: one conv layer, so the first dense layer is 246016 x 2048
    expect(() =>
      resolveConfig({ imageSize: 64, batchSize: 2, terms: 1, predictTerms: 1, model: { convLayers: 1, filters: 256, hidden: 2048 } }),
    ).toThrow(/parameters, over the/);
  });

  it('refuses a probe whose images would not fit in memory', () => {
    expect(() => checkProbeSize({ trainImages: 50000, testImages: 10000 }, 64)).toThrow(/image values/);
    expect(() => checkProbeSize({ trainImages: 10000, testImages: 5000 }, 64)).not.toThrow();
    expect(() => checkProbeSize({ trainImages: 50000, testImages: 10000 }, 28)).not.toThrow();
    expect(MAX_PROBE_VALUES / (64 * 64 * 3)).toBeGreaterThan(21000);
  });
});
