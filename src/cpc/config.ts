/**
 * CPC run configuration: defaults, limits and validation. Everything a run
 * depends on is here, so the config (with its seed) fully describes a run.
 */
import type { SequenceTask } from './sequences.js';
import { closestName } from '../lib/names.js';
import type { ColorMode } from './images.js';
import { AFFINE_RANGES, type Augment } from './augment.js';

export type LossKind = 'binary' | 'infonce';
/** InfoNCE's candidates (./losses.ts): the positives' futures at the same step, or every future image of the batch */
export type NegativeSet = 'step' | 'batch';
export type SameClassNegatives = 'keep' | 'mask';
/** how a prediction scores a candidate code: their dot product, or the cosine of their angle */
export type Similarity = 'dot' | 'cosine';
/** how the learning rate moves: dropped on a validation plateau, or a cosine decay over the run's steps */
export type LrSchedule = 'plateau' | 'cosine';

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

export type PresetName = 'default' | 'seed';

export interface CpcConfig {
  /** the named settings the defaults start from (PRESETS); explicit fields win over them */
  preset: PresetName;
  seed: number;
  dataDir?: string;
  task: SequenceTask;
  terms: number;
  predictTerms: number;
  imageSize: number;
  color: ColorMode;
  /** curriculum: train on grey digits for the first N steps, then `color` */
  greySteps: number;
  /** training images warped at random (./augment.ts); validation and test images never are */
  augment: Augment;
  batchSize: number;
  positiveFraction: number;
  loss: LossKind;
  negatives: NegativeSet;
  sameClassNegatives: SameClassNegatives;
  similarity: Similarity;
  /** multiplies the logits of both losses (with cosine similarity: an inverse temperature) */
  logitScale: number;
  learningRate: number;
  lrSchedule: LrSchedule;
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

/**
 * What each preset changes from the defaults. `seed` is the seed's recipe as it was given:
 * the binary loss (so half the sequences negative), colour from the first step, and InfoNCE (when
 * asked for) over the positives' futures at the same step, nothing masked.
 */
export const PRESETS: Record<PresetName, Omit<CpcConfigInput, 'preset'>> = {
  default: {},
  seed: {
    loss: 'binary',
    greySteps: 0,
    negatives: 'step',
    sameClassNegatives: 'keep',
    similarity: 'dot',
    lrSchedule: 'plateau',
    augment: 'none',
  },
};

/** a preset's settings as the help texts state them */
const presetText = (name: PresetName) =>
  Object.entries(PRESETS[name])
    .map(([k, v]) => `${k} ${String(v)}`)
    .join(', ');

/**
 * What a run did before each of these fields existed: InfoNCE compared the positives' futures at
 * the same step with nothing masked, scored by dot products, the rate followed the plateau, and
 * no training image was augmented.
 */
const BEFORE_THE_FIELD: Partial<Record<keyof CpcConfig, unknown>> = {
  negatives: 'step',
  sameClassNegatives: 'keep',
  similarity: 'dot',
  lrSchedule: 'plateau',
  augment: 'none',
};

/**
 * A config stored before a field existed, as it ran then: a missing field takes the value that
 * reproduces the old behaviour, not today's default (a retried or resumed job keeps its recipe).
 */
export function upgradeStoredConfig(stored: Record<string, unknown>): Record<string, unknown> {
  if (!('loss' in stored)) return stored; // not a CPC config (a probe's)
  const upgraded = { ...BEFORE_THE_FIELD, ...stored };
  // a floor above the rate was accepted before (its first plateau drop raised the rate to it)
  const [rate, floor] = [upgraded.learningRate, upgraded.minLearningRate];
  if (typeof rate === 'number' && typeof floor === 'number' && floor > rate) upgraded.minLearningRate = rate;
  return upgraded;
}

/**
 * One field of the config, as data: the engine validates with it, the API derives its request
 * schema from it (api/config-schema.ts) and the CLI its flags and help (cli/config-flags.ts),
 * so a limit or a default changes here and nowhere else.
 */
export type FieldSpec = (
  | { type: 'integer' | 'number'; min: number; max: number; exclusiveMin?: boolean; default: number }
  | { type: 'enum'; values: readonly string[] | readonly number[]; default: string | number }
) & {
  help: string;
  /** the CLI flag, when not the field's name in kebab case */
  flag?: string;
  /** the default in words, when it depends on something else */
  defaultText?: string;
};

/** how help texts and the API's descriptions state a field's default */
export const defaultText = (spec: FieldSpec) => spec.defaultText ?? JSON.stringify(spec.default);

/**
 * Where a run's data is and how many threads train it: the machine's, not the recipe's. A resumed
 * run takes them from the machine that resumes it (train-run.ts resumedConfig); worker threads
 * leave the weights as one thread makes them (synchronised batch norm, summed gradients), up to
 * float rounding.
 */
export const MACHINE_FIELDS = ['dataDir', 'workers'] as const;

/** fields only the CLI and the workers set (the service picks them, a client does not) */
export const ENGINE_ONLY_FIELDS = ['workers'] as const;

type TopLevelField = Exclude<keyof CpcConfig, 'model' | 'dataDir'>;

export const CONFIG_FIELDS: Record<TopLevelField, FieldSpec> = {
  preset: {
    type: 'enum',
    values: ['default', 'seed'],
    default: 'default',
    help: `starting settings: 'default' (the recipe whose encoders transfer best, BENCHMARKS.md "Representations"), or 'seed' (the seed's recipe: ${presetText('seed')}); explicit fields win`,
  },
  seed: { type: 'integer', min: 0, max: 2 ** 31 - 1, default: 0, help: 'seed of every random stream' },
  task: {
    type: 'enum',
    values: ['sorted', 'same'],
    default: 'sorted',
    help: 'sequence task: sorted (consecutive class indices, wrapping) or same (one class)',
  },
  terms: { type: 'integer', min: 1, max: 16, default: 4, help: 'images the context sees' },
  predictTerms: { type: 'integer', min: 1, max: 16, default: 4, help: 'images predicted after them' },
  imageSize: { type: 'enum', values: [28, 64], default: 64, help: 'image side in pixels' },
  color: { type: 'enum', values: ['grey', 'color'], default: 'color', help: 'image style: grey, or ink on a coloured texture' },
  greySteps: { type: 'integer', min: 0, max: 1_000_000, default: 300, help: 'curriculum: grey images for the first N steps' },
  augment: {
    type: 'enum',
    values: ['none', 'affine'],
    default: 'none',
    help: `training images: 'none', or 'affine' = each warped at random (rotation ±${AFFINE_RANGES.rotation}°, scale ±${AFFINE_RANGES.scale * 100}%, shift ±${AFFINE_RANGES.shift} of 28 pixels; uncovered corners repeat the edge pixels); validation, test, probe and prediction images never are`,
  },
  batchSize: { type: 'integer', min: 2, max: 256, default: 32, help: 'sequences per batch' },
  positiveFraction: {
    type: 'number',
    min: 0,
    max: 1,
    default: 1,
    help: 'share of positive sequences in a batch',
    defaultText: '1 for infonce; 0.5 for binary, which needs both kinds',
  },
  loss: { type: 'enum', values: ['binary', 'infonce'], default: 'infonce', help: 'CPC loss' },
  negatives: {
    type: 'enum',
    values: ['step', 'batch'],
    default: 'batch',
    help: "infonce candidates: 'step' = the positive sequences' futures at the same step, 'batch' = every future image of the batch",
  },
  sameClassNegatives: {
    type: 'enum',
    values: ['keep', 'mask'],
    default: 'mask',
    help: "infonce: candidates of the target's own class (other than the target) kept as negatives or masked out",
  },
  similarity: {
    type: 'enum',
    values: ['dot', 'cosine'],
    default: 'cosine',
    help: "score of a prediction against a code: 'dot' = their dot product, 'cosine' = the dot product of both normalised to length 1 (infonce only)",
    defaultText: "'cosine' for infonce; 'dot' for binary",
  },
  logitScale: {
    type: 'number',
    min: 1e-3,
    max: 1e3,
    default: 10,
    help: 'scale of the logits (with cosine similarity: 1 / temperature)',
    defaultText: '10 with cosine similarity (temperature 0.1); 1 with dot',
  },
  learningRate: { type: 'number', min: 1e-6, max: 1, default: 1e-3, help: 'Adam learning rate', flag: 'lr' },
  lrSchedule: {
    type: 'enum',
    values: ['plateau', 'cosine'],
    default: 'cosine',
    help: "'plateau' = drop by lrFactor after lrPatience epochs without a better validation loss; 'cosine' = decay from learningRate to minLearningRate over the run's steps",
  },
  epochs: { type: 'integer', min: 1, max: 1000, default: 10, help: 'epochs' },
  stepsPerEpoch: { type: 'integer', min: 0, max: 100_000, default: 0, help: 'steps per epoch; 0 = train images / terms / batch size' },
  validationSteps: {
    type: 'integer',
    min: 1,
    max: 1000,
    default: 100,
    help: 'batches of each validation and of the final test; each scores batchSize × predictTerms predictions (12,800 at the defaults)',
  },
  lrPatience: {
    type: 'integer',
    min: 0,
    max: 1000,
    default: 2,
    help: 'plateau: epochs without a better validation loss before the rate drops',
  },
  lrFactor: { type: 'number', min: 1e-3, max: 1, default: 1 / 3, help: 'plateau: factor of each learning-rate drop' },
  minLearningRate: {
    type: 'number',
    min: 0,
    max: 1,
    default: 1e-4,
    help: 'floor of the learning rate under either schedule; at most learningRate',
    defaultText: '1e-4, or learningRate / 10 when that is lower',
  },
  textureSeed: { type: 'integer', min: 0, max: 2 ** 31 - 1, default: 1234, help: 'seed of the colour textures' },
  checkpointEvery: { type: 'integer', min: 0, max: 1_000_000, default: 100, help: 'steps between checkpoints (0 = only at the end)' },
  workers: {
    type: 'integer',
    min: 0,
    max: 64,
    default: 0,
    help: 'data-parallel worker threads; 0 = one per core on wasm/cpu, 1 on native',
  },
};

export const MODEL_FIELDS: Record<keyof ModelConfig, FieldSpec> = {
  filters: { type: 'integer', min: 1, max: 256, default: 64, help: 'filters of each conv layer' },
  convLayers: { type: 'integer', min: 1, max: 6, default: 4, help: 'stride-2 conv layers', defaultText: '4; 3 for 28px images' },
  hidden: { type: 'integer', min: 1, max: 2048, default: 256, help: 'units of the dense layer after the convs' },
  codeSize: { type: 'integer', min: 1, max: 1024, default: 128, help: 'size of an image code' },
  contextSize: { type: 'integer', min: 1, max: 2048, default: 256, help: 'GRU context size' },
  bnMomentum: { type: 'number', min: 0, max: 1, default: 0.99, help: 'batch-norm moving-average momentum' },
  bnEpsilon: { type: 'number', min: 0, max: 1, exclusiveMin: true, default: 1e-3, help: 'batch-norm epsilon' },
  leakyAlpha: { type: 'number', min: 0, max: 1, default: 0.3, help: 'LeakyReLU slope' },
};

const defaultsOf = <K extends string>(fields: Record<K, FieldSpec>) =>
  Object.fromEntries(Object.entries<FieldSpec>(fields).map(([k, f]) => [k, f.default])) as Record<K, unknown>;

export const DEFAULT_MODEL = defaultsOf(MODEL_FIELDS) as unknown as ModelConfig;

export const DEFAULT_CONFIG: CpcConfig = { ...(defaultsOf(CONFIG_FIELDS) as unknown as Omit<CpcConfig, 'model'>), model: DEFAULT_MODEL };

export class ConfigError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ConfigError';
  }
}

/** a value as an error message shows it: JSON, with numbers JSON has no word for (Infinity, NaN) as themselves */
export function valueText(value: unknown): string {
  const marked = JSON.stringify(value, (_key, v: unknown) => (typeof v === 'number' && !Number.isFinite(v) ? `\u0000${v}\u0000` : v));
  return marked === undefined ? String(value) : marked.replace(/"\\u0000(.*?)\\u0000"/g, '$1');
}

/** why `value` does not fit `spec` (null when it does); `name` is how the message calls the field */
export function fieldProblem(name: string, spec: FieldSpec, value: unknown): string | null {
  if (spec.type === 'enum') {
    return (spec.values as readonly unknown[]).includes(value)
      ? null
      : `${name} must be one of ${spec.values.map((v) => JSON.stringify(v)).join(', ')}, got ${valueText(value)}`;
  }
  if (typeof value !== 'number' || !Number.isFinite(value)) return `${name} must be a finite number, got ${valueText(value)}`;
  if (spec.type === 'integer' && !Number.isInteger(value)) return `${name} must be an integer, got ${value}`;
  const low = spec.exclusiveMin ? value <= spec.min : value < spec.min;
  if (low || value > spec.max) return `${name} must be in ${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}], got ${value}`;
  return null;
}

function asRecord(value: unknown, what: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw new ConfigError(`${what} must be a JSON object`);
  return value as Record<string, unknown>;
}

/**
 * `input` holds only fields of `fields` (or of `alsoKnown`, checked by the caller), each fitting
 * its definition. Throws ConfigError naming the first problem; an unknown key is named with the
 * field it most likely meant. `prefix` is how the message names the fields (`model.`).
 */
export function checkFields(
  input: Record<string, unknown>,
  fields: Record<string, FieldSpec>,
  { prefix = '', alsoKnown = [] as string[] } = {},
): void {
  for (const [key, value] of Object.entries(input)) {
    if (value === undefined || alsoKnown.includes(key)) continue; // (an unset flag)
    const spec = Object.hasOwn(fields, key) ? fields[key] : undefined;
    if (!spec)
      throw new ConfigError(
        unknownField(
          prefix + key,
          [...Object.keys(fields), ...alsoKnown].map((k) => prefix + k),
        ),
      );
    const problem = fieldProblem(prefix + key, spec, value);
    if (problem) throw new ConfigError(problem);
  }
}

/**
 * A config as a client or a file gives it: only known fields, each of the right type and range
 * (the engine-only ones too unless `engineFields` is false). Throws ConfigError naming the first
 * problem.
 */
export function checkConfigInput(input: unknown, options: { engineFields?: boolean } = {}): CpcConfigInput {
  const record = asRecord(input, 'the config');
  const engine = options.engineFields !== false;
  const fields = Object.fromEntries(
    Object.entries(CONFIG_FIELDS).filter(([k]) => engine || !(ENGINE_ONLY_FIELDS as readonly string[]).includes(k)),
  );
  if (record.model !== undefined) checkFields(asRecord(record.model, 'model'), MODEL_FIELDS, { prefix: 'model.' });
  if (record.dataDir !== undefined && !(engine && typeof record.dataDir === 'string'))
    throw new ConfigError(engine ? 'dataDir must be a directory path' : unknownField('dataDir', Object.keys(fields)));
  checkFields(record, fields, { alsoKnown: engine ? ['model', 'dataDir'] : ['model'] });
  return record as CpcConfigInput;
}

function unknownField(key: string, known: string[]): string {
  const near = closestName(key, known);
  return `unknown config field ${JSON.stringify(key)}${near ? `; did you mean ${JSON.stringify(near)}?` : ''}`;
}

/** the largest first-layer activation a step may hold (values): 4× the default config's, about 256 MB of float32 */
export const MAX_STEP_ACTIVATION = 64 * 2 ** 20;

/** parameters a model may have: 128 MiB of float32 weights (about 4x that while training, with Adam's moments and the gradients) */
export const MAX_PARAMETERS = 32 * 2 ** 20;

/** why `workers` data-parallel threads cannot split the batch, or null */
export function workersProblem(config: Pick<CpcConfig, 'workers' | 'batchSize'>): string | null {
  return config.workers > 1 && config.batchSize % config.workers !== 0
    ? `batchSize ${config.batchSize} must be divisible by workers ${config.workers}`
    : null;
}

export function validateConfig(config: CpcConfig): CpcConfig {
  for (const [key, spec] of Object.entries<FieldSpec>(CONFIG_FIELDS)) {
    const problem = fieldProblem(key, spec, config[key as TopLevelField]);
    if (problem) throw new ConfigError(problem);
  }
  for (const [key, spec] of Object.entries<FieldSpec>(MODEL_FIELDS)) {
    const problem = fieldProblem(`model.${key}`, spec, config.model[key as keyof ModelConfig]);
    if (problem) throw new ConfigError(problem);
  }
  const positives = Math.round(config.batchSize * config.positiveFraction);
  if (config.loss === 'infonce' && positives < 2) {
    throw new ConfigError(
      `loss "infonce" needs at least 2 positive sequences per batch: batchSize ${config.batchSize} x positiveFraction ${config.positiveFraction} rounds to ${positives}`,
    );
  }
  if (config.loss === 'binary' && (positives === 0 || positives === config.batchSize)) {
    throw new ConfigError(
      `loss "binary" needs both positive and negative sequences in a batch: batchSize ${config.batchSize} x positiveFraction ${config.positiveFraction} gives ${positives} positives; use a positiveFraction between 0 and 1 (0.5 when not given)`,
    );
  }
  if (config.minLearningRate > config.learningRate) {
    throw new ConfigError(
      `minLearningRate ${config.minLearningRate} is above learningRate ${config.learningRate}: the rate only decays, down to that floor`,
    );
  }
  if (config.loss === 'binary' && config.similarity === 'cosine') {
    throw new ConfigError(
      `similarity "cosine" is for loss "infonce"${config.preset === 'seed' ? ' (preset "seed" sets loss "binary")' : ''}: the binary loss averages the products over the code's dimensions, so it scores with "dot"`,
    );
  }
  const split = workersProblem(config);
  if (split) throw new ConfigError(split);
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

/** The full config a partial one (from the API, a file or flags) stands for, checked; throws ConfigError. */
export function resolveConfig(partial: CpcConfigInput = {}): CpcConfig {
  checkConfigInput(partial);
  const preset = PRESETS[partial.preset ?? 'default'];
  const merged: CpcConfig = {
    ...DEFAULT_CONFIG,
    ...preset,
    ...partial,
    model: { ...DEFAULT_MODEL, ...(preset.model ?? {}), ...(partial.model ?? {}) },
  };
  // the binary loss needs negative sequences: there the default is half of the batch
  if (merged.loss === 'binary' && partial.positiveFraction === undefined) merged.positiveFraction = 0.5;
  // the binary loss scores with dot products, and unnormalised dot products want no scaling
  if (merged.loss === 'binary' && partial.similarity === undefined && preset.similarity === undefined) merged.similarity = 'dot';
  if (partial.logitScale === undefined && preset.logitScale === undefined) merged.logitScale = merged.similarity === 'cosine' ? 10 : 1;
  // the rate only decays: a small learningRate brings the floor down with it
  if (partial.minLearningRate === undefined && preset.minLearningRate === undefined) {
    merged.minLearningRate = Math.min(DEFAULT_CONFIG.minLearningRate, merged.learningRate / 10);
  }
  // 4 stride-2 layers do not fit 28px images: there the default is 3
  if (merged.imageSize === 28 && partial.model?.convLayers === undefined) merged.model.convLayers = 3;
  return validateConfig(merged);
}

/** The seed's epoch length: train images / terms / batch size. */
export function stepsPerEpoch(config: CpcConfig, trainImages: number): number {
  return config.stepsPerEpoch > 0 ? config.stepsPerEpoch : Math.max(1, Math.floor(trainImages / config.terms / config.batchSize));
}
