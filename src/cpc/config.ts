/**
 * CPC run configuration: defaults, limits and validation. Everything a run
 * depends on is here, so the config (with its seed) fully describes a run.
 */
import type { SequenceTask } from './sequences.js';
import type { ColorMode } from './images.js';

export type LossKind = 'binary' | 'infonce';

export interface ModelConfig {
  filters: number;
  convLayers: number;
  hidden: number;
  codeSize: number;
  contextSize: number;
  bnMomentum: number;
  bnEpsilon: number;
  leakyAlpha: number;
}

export interface CpcConfig {
  seed: number;
  dataDir?: string;
  task: SequenceTask;
  terms: number;
  predictTerms: number;
  imageSize: number;
  color: ColorMode;
  /** curriculum: train on grey digits for the first N steps, then `color` */
  greySteps: number;
  batchSize: number;
  positiveFraction: number;
  loss: LossKind;
  /** multiplies the dot-product logits of both losses */
  logitScale: number;
  learningRate: number;
  epochs: number;
  /** 0 = the seed's default: train images / terms / batch size */
  stepsPerEpoch: number;
  validationSteps: number;
  lrPatience: number;
  lrFactor: number;
  minLearningRate: number;
  textureSeed: number;
  checkpointEvery: number;
  /** data-parallel worker threads; 0 = one per core on wasm/cpu, 1 on native backends */
  workers: number;
  model: ModelConfig;
}

export const DEFAULT_MODEL: ModelConfig = {
  filters: 64,
  convLayers: 4,
  hidden: 256,
  codeSize: 128,
  contextSize: 256,
  bnMomentum: 0.99,
  bnEpsilon: 1e-3,
  leakyAlpha: 0.3,
};

export const DEFAULT_CONFIG: CpcConfig = {
  seed: 0,
  task: 'sorted',
  terms: 4,
  predictTerms: 4,
  imageSize: 64,
  color: 'color',
  greySteps: 300,
  batchSize: 32,
  positiveFraction: 0.5,
  loss: 'binary',
  logitScale: 1,
  learningRate: 1e-3,
  epochs: 10,
  stepsPerEpoch: 0,
  validationSteps: 20,
  lrPatience: 2,
  lrFactor: 1 / 3,
  minLearningRate: 1e-4,
  textureSeed: 1234,
  checkpointEvery: 100,
  workers: 0,
  model: DEFAULT_MODEL,
};

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

type Range = [min: number, max: number, integer: boolean];
const LIMITS: Partial<Record<keyof CpcConfig, Range>> = {
  seed: [0, 2 ** 31 - 1, true],
  terms: [1, 16, true],
  predictTerms: [1, 16, true],
  greySteps: [0, 10_000_000, true],
  batchSize: [2, 1024, true],
  positiveFraction: [0, 1, false],
  logitScale: [1e-3, 1e3, false],
  learningRate: [1e-6, 1, false],
  epochs: [1, 10_000, true],
  stepsPerEpoch: [0, 10_000_000, true],
  validationSteps: [1, 100_000, true],
  lrPatience: [0, 1000, true],
  lrFactor: [1e-3, 1, false],
  minLearningRate: [0, 1, false],
  textureSeed: [0, 2 ** 31 - 1, true],
  checkpointEvery: [0, 10_000_000, true],
  workers: [0, 64, true],
};

/** the largest first-layer activation a step may hold (values): 4× the default config's, about 256 MB of float32 */
export const MAX_STEP_ACTIVATION = 64 * 2 ** 20;

/** parameters a model may have: 128 MiB of float32 weights (about 4x that while training, with Adam's moments and the gradients) */
export const MAX_PARAMETERS = 32 * 2 ** 20;

export function validateConfig(config: CpcConfig): CpcConfig {
  for (const [key, [min, max, integer]] of Object.entries(LIMITS) as Array<[keyof CpcConfig, Range]>) {
    const value = config[key];
    if (typeof value !== 'number' || !Number.isFinite(value)) throw new ConfigError(`${key} must be a finite number, got ${String(value)}`);
    if (value < min || value > max) throw new ConfigError(`${key} must be in [${min}, ${max}], got ${value}`);
    if (integer && !Number.isInteger(value)) throw new ConfigError(`${key} must be an integer, got ${value}`);
  }
  if (!['sorted', 'same'].includes(config.task)) throw new ConfigError(`task must be "sorted" or "same", got ${config.task}`);
  if (!['grey', 'color'].includes(config.color)) throw new ConfigError(`color must be "grey" or "color", got ${config.color}`);
  if (!['binary', 'infonce'].includes(config.loss)) throw new ConfigError(`loss must be "binary" or "infonce", got ${config.loss}`);
  if (config.imageSize !== 28 && config.imageSize !== 64) throw new ConfigError(`imageSize must be 28 or 64, got ${config.imageSize}`);
  const positives = Math.round(config.batchSize * config.positiveFraction);
  if (config.loss === 'infonce' && positives < 2) throw new ConfigError('infonce needs at least 2 positive sequences per batch');
  if (config.loss === 'binary' && (positives === 0 || positives === config.batchSize)) {
    throw new ConfigError('binary loss needs both positive and negative sequences in a batch');
  }
  if (config.workers > 1 && config.batchSize % config.workers !== 0) {
    throw new ConfigError(`batchSize ${config.batchSize} must be divisible by workers ${config.workers}`);
  }
  // the conv stack must leave at least 1x1 spatial output
  let side = config.imageSize;
  for (let i = 0; i < config.model.convLayers; i++) side = Math.floor((side - 3) / 2) + 1;
  if (side < 1) throw new ConfigError(`${config.model.convLayers} stride-2 conv layers do not fit a ${config.imageSize}px image`);
  // a bound on the memory of one step: its largest activation (the first conv layer's output, of
  // every image in the batch); the defaults use a quarter of it
  const firstSide = Math.floor((config.imageSize - 3) / 2) + 1;
  const imagesPerStep = config.batchSize * (config.terms + config.predictTerms);
  const activation = imagesPerStep * firstSide * firstSide * config.model.filters;
  if (activation > MAX_STEP_ACTIVATION) {
    throw new ConfigError(
      `one training step would be too large: ${imagesPerStep} images (batchSize × (terms + predictTerms)) × ${firstSide}×${firstSide} × ${config.model.filters} filters = ${activation} values in the first conv layer, over the ${MAX_STEP_ACTIVATION} allowed; lower batchSize, terms, predictTerms or model.filters`,
    );
  }
  const params = parameterCount(config);
  if (params > MAX_PARAMETERS) {
    throw new ConfigError(
      `the model would have ${params} parameters, over the ${MAX_PARAMETERS} allowed (the first dense layer alone: ${side * side * config.model.filters} x ${config.model.hidden}); lower model.hidden, model.filters or model.contextSize, or add conv layers`,
    );
  }
  return config;
}

/** trainable and batch-norm parameters of the network a config describes (src/cpc/model.ts) */
export function parameterCount(config: CpcConfig): number {
  const { model, imageSize, predictTerms } = config;
  let n = 0;
  let channels = 3;
  let side = imageSize;
  for (let i = 0; i < model.convLayers; i++) {
    n += 9 * channels * model.filters + 4 * model.filters;
    channels = model.filters;
    side = Math.floor((side - 3) / 2) + 1;
  }
  const u = model.contextSize;
  n += side * side * model.filters * model.hidden + 4 * model.hidden;
  n += model.hidden * model.codeSize + model.codeSize;
  n += model.codeSize * 3 * u + u * 3 * u + 3 * u;
  n += predictTerms * (u * model.codeSize + model.codeSize);
  return n;
}

export type CpcConfigInput = Omit<Partial<CpcConfig>, 'model'> & { model?: Partial<ModelConfig> };

export function resolveConfig(partial: CpcConfigInput = {}): CpcConfig {
  const merged: CpcConfig = { ...DEFAULT_CONFIG, ...partial, model: { ...DEFAULT_MODEL, ...(partial.model ?? {}) } };
  // 4 stride-2 layers do not fit 28px images: there the default is 3
  if (merged.imageSize === 28 && partial.model?.convLayers === undefined) merged.model.convLayers = 3;
  return validateConfig(merged);
}

/** The seed's epoch length: train images / terms / batch size. */
export function stepsPerEpoch(config: CpcConfig, trainImages: number): number {
  return config.stepsPerEpoch > 0 ? config.stepsPerEpoch : Math.max(1, Math.floor(trainImages / config.terms / config.batchSize));
}
