/**
 * Linear-probe evaluation: freeze an encoder, train a small head on labelled
 * images, report test accuracy. Heads: `linear` (softmax regression) and
 * `mlp` (the seed's Dense 128 -> BN -> LeakyReLU -> Dense 10 softmax).
 * Baselines on the same images: raw pixels and a random-init encoder.
 */
import * as tf from './tf.js';
import { ConfigError, checkFields, type FieldSpec } from './config.js';
import { Rng } from './rng.js';
import type { ImageDataset, SplitName } from './dataset.js';
import { renderImages, type ImageStyle } from './images.js';
import type { Texture } from './texture.js';

export type HeadKind = 'linear' | 'mlp';

export interface ProbeConfig {
  seed: number;
  trainImages: number;
  testImages: number;
  epochs: number;
  batchSize: number;
  learningRate: number;
  leakyAlpha: number;
}

/** the fields a probe's user sets (the API's schema and the CLI's flags derive from these; see config.ts FieldSpec) */
export const PROBE_FIELDS: Record<Exclude<keyof ProbeConfig, 'leakyAlpha'>, FieldSpec> = {
  seed: {
    type: 'integer',
    min: 0,
    max: 2 ** 31 - 1,
    default: 0,
    help: 'seed of the image sample and the heads',
    defaultText: "the CPC run's seed",
  },
  trainImages: { type: 'integer', min: 100, max: 50_000, default: 4000, help: 'labelled training images' },
  testImages: { type: 'integer', min: 100, max: 10_000, default: 2000, help: 'test images' },
  epochs: { type: 'integer', min: 1, max: 100, default: 8, help: 'head training epochs' },
  batchSize: { type: 'integer', min: 8, max: 1024, default: 64, help: 'images per head training batch' },
  learningRate: { type: 'number', min: 1e-6, max: 1, default: 1e-3, help: 'Adam learning rate of the heads', flag: 'lr' },
};

export const DEFAULT_PROBE: ProbeConfig = {
  ...(Object.fromEntries(Object.entries<FieldSpec>(PROBE_FIELDS).map(([k, f]) => [k, f.default])) as Omit<ProbeConfig, 'leakyAlpha'>),
  // (the MLP head's slope: the encoder's own, from the run's config)
  leakyAlpha: 0.3,
};

/** a probe config as a client or the CLI gives it: only the user's fields, each in range; throws ConfigError */
export function checkProbeInput(input: Record<string, unknown>): Partial<ProbeConfig> {
  checkFields(input, PROBE_FIELDS);
  return input as Partial<ProbeConfig>;
}

/**
 * The most image values a probe may hold: its train and test images at the
 * encoder's size (the raw-pixel baseline copies them twice more while it
 * runs). 256 Mi values, 1 GiB of float32: 21,845 images of 64x64 colour.
 */
export const MAX_PROBE_VALUES = 256 * 2 ** 20;

/** a ConfigError for a probe too large to hold in memory */
export function checkProbeSize(config: Pick<ProbeConfig, 'trainImages' | 'testImages'>, imageSize: number): void {
  const values = (config.trainImages + config.testImages) * imageSize * imageSize * 3;
  if (values > MAX_PROBE_VALUES) {
    throw new ConfigError(
      `the probe would hold ${values} image values ((trainImages + testImages) x ${imageSize}x${imageSize}x3), over the ${MAX_PROBE_VALUES} allowed (${Math.floor(MAX_PROBE_VALUES / (imageSize * imageSize * 3))} images at this size); lower trainImages or testImages`,
    );
  }
}

export interface LabelledImages {
  images: Float32Array;
  labels: Int32Array;
  count: number;
  imageSize: number;
  /** the data set's number of classes (labels are 0..classes-1) */
  classes: number;
}

/**
 * `count` random images of a split rendered in `style`, with their labels; when `count` is
 * the split's size or more, every image of the split once (in a seeded order).
 */
export function sampleLabelledImages(
  data: ImageDataset,
  split: SplitName,
  count: number,
  style: ImageStyle,
  texture: Texture,
  rng: Rng,
): LabelledImages {
  const source = data.splits[split];
  const indices = count >= source.count ? rng.permutation(source.count) : Array.from({ length: count }, () => rng.int(source.count));
  const labels = Int32Array.from(indices, (i) => source.labels[i]);
  return {
    images: renderImages(source, indices, style, texture, rng),
    labels,
    count: indices.length,
    imageSize: style.imageSize,
    classes: data.classNames.length,
  };
}

/** A function from an image batch [N, S, S, 3] to features [N, D] (no gradient). */
export type FeatureFn = (images: tf.Tensor4D) => tf.Tensor2D;

export const rawPixelFeatures: FeatureFn = (images) => tf.reshape(images, [images.shape[0], -1]);

/** Apply `features` to all images in chunks; returns a [count, D] tensor. */
export function computeFeatures(set: LabelledImages, features: FeatureFn, chunk = 256): tf.Tensor2D {
  const per = set.imageSize * set.imageSize * 3;
  const parts: tf.Tensor2D[] = [];
  for (let start = 0; start < set.count; start += chunk) {
    const n = Math.min(chunk, set.count - start);
    parts.push(
      tf.tidy(() => features(tf.tensor4d(set.images.subarray(start * per, (start + n) * per), [n, set.imageSize, set.imageSize, 3]))),
    );
  }
  const all = tf.concat(parts, 0) as tf.Tensor2D;
  tf.dispose(parts);
  return all;
}

export function buildHead(kind: HeadKind, inputDim: number, classes: number, config: ProbeConfig, seed: number): tf.Sequential {
  const head = tf.sequential({ name: `probe_${kind}` });
  const init = (s: number) => tf.initializers.glorotUniform({ seed: s });
  if (kind === 'linear') {
    head.add(
      tf.layers.dense({ name: 'logits', units: classes, activation: 'softmax', inputShape: [inputDim], kernelInitializer: init(seed) }),
    );
  } else {
    head.add(tf.layers.dense({ name: 'hidden', units: 128, inputShape: [inputDim], kernelInitializer: init(seed) }));
    head.add(tf.layers.batchNormalization({ name: 'bn', epsilon: 1e-3 }));
    head.add(tf.layers.leakyReLU({ name: 'leaky', alpha: config.leakyAlpha }));
    head.add(tf.layers.dense({ name: 'logits', units: classes, activation: 'softmax', kernelInitializer: init(seed + 1) }));
  }
  head.compile({ optimizer: tf.train.adam(config.learningRate), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  return head;
}

export function accuracyOf(head: tf.LayersModel, features: tf.Tensor2D, labels: Int32Array): number {
  return tf.tidy(() => {
    const predicted = (head.predict(features, { batchSize: 512 }) as tf.Tensor).argMax(1).dataSync();
    let hits = 0;
    predicted.forEach((p, i) => {
      if (p === labels[i]) hits++;
    });
    return hits / labels.length;
  });
}

/** Train a head on train features (seeded shuffles), return it with its test accuracy. */
export async function trainHead(
  kind: HeadKind,
  train: { features: tf.Tensor2D; labels: Int32Array; classes: number },
  test: { features: tf.Tensor2D; labels: Int32Array },
  config: ProbeConfig,
  signal?: AbortSignal,
): Promise<{ head: tf.Sequential; testAccuracy: number }> {
  const rng = new Rng(config.seed + (kind === 'mlp' ? 17 : 0));
  const head = buildHead(kind, train.features.shape[1], train.classes, config, rng.deriveSeed());
  const n = train.labels.length;
  for (let epoch = 0; epoch < config.epochs; epoch++) {
    const order = rng.permutation(n);
    for (let start = 0; start < n; start += config.batchSize) {
      if (signal?.aborted) throw new Error('probe cancelled');
      const idx = order.slice(start, start + config.batchSize);
      if (idx.length < 2) continue;
      const [x, y] = tf.tidy(() => [
        tf.gather(train.features, tf.tensor1d(idx, 'int32')),
        tf.oneHot(
          tf.tensor1d(
            idx.map((i) => train.labels[i]),
            'int32',
          ),
          train.classes,
        ),
      ]);
      await head.trainOnBatch(x, y);
      tf.dispose([x, y]);
    }
  }
  return { head, testAccuracy: accuracyOf(head, test.features, test.labels) };
}

export interface ProbeScores {
  linear: number;
  mlp: number;
}

/**
 * Whether the CPC encoder's probes beat both baselines, in words: each head's lead in points over
 * the better of the random-init encoder and raw pixels.
 */
export function probeVerdict(r: { cpc: ProbeScores; randomEncoder: ProbeScores; rawPixels: ProbeScores }): string {
  const lead = (head: HeadKind) => 100 * (r.cpc[head] - Math.max(r.randomEncoder[head], r.rawPixels[head]));
  const points = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} points`;
  const [mlp, linear] = [lead('mlp'), lead('linear')];
  return mlp > 0 && linear > 0
    ? `the CPC encoder beats both baselines: MLP ${points(mlp)}, linear ${points(linear)} over the better one`
    : `the CPC encoder does NOT beat both baselines here (MLP ${points(mlp)}, linear ${points(linear)}); BENCHMARKS.md "Representations" has longer runs`;
}

/** Per-feature mean and standard deviation of a [N, D] feature matrix (a constant feature gets 1). */
export function featureMoments(features: tf.Tensor2D): { mean: tf.Tensor1D; std: tf.Tensor1D } {
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(features, 0);
    const std = tf.sqrt(variance);
    return { mean: mean as tf.Tensor1D, std: tf.where(tf.greater(std, 1e-6), std, tf.onesLike(std)) as tf.Tensor1D };
  });
}

/**
 * Fold a standardisation (x - mean) / std into a head's first dense layer, so the head takes the
 * raw features: W' = W / std (per input row), b' = b - (mean / std) W.
 */
export function foldStandardization(head: tf.LayersModel, moments: { mean: tf.Tensor1D; std: tf.Tensor1D }): void {
  const first = head.layers[0];
  const [kernel, bias] = first.getWeights();
  const folded = tf.tidy(() => {
    const scaled = tf.div(kernel, tf.expandDims(moments.std, 1));
    const shift = tf.matMul(tf.expandDims(moments.mean, 0), scaled).reshape([-1]);
    return [scaled, tf.sub(bias, shift)];
  });
  first.setWeights(folded);
  tf.dispose(folded);
}

/**
 * Probe one feature extractor with both heads; disposes everything but the heads it returns.
 * Each feature is standardised with the training images' mean and deviation before the heads
 * see it (raw pixels and codes alike: Adam on unscaled inputs of 12,288 pixels is a poor
 * baseline), and the returned heads have that folded into their first layer.
 */
export async function probeFeatures(
  features: FeatureFn,
  train: LabelledImages,
  test: LabelledImages,
  config: ProbeConfig,
  signal?: AbortSignal,
): Promise<{ scores: ProbeScores; heads: Record<HeadKind, tf.Sequential> }> {
  const rawTrain = computeFeatures(train, features);
  const rawTest = computeFeatures(test, features);
  const moments = featureMoments(rawTrain);
  const standardize = (x: tf.Tensor2D) => tf.tidy(() => tf.div(tf.sub(x, moments.mean), moments.std) as tf.Tensor2D);
  const trainFeatures = standardize(rawTrain);
  const testFeatures = standardize(rawTest);
  tf.dispose([rawTrain, rawTest]);
  try {
    const head = (kind: HeadKind) =>
      trainHead(
        kind,
        { features: trainFeatures, labels: train.labels, classes: train.classes },
        { features: testFeatures, labels: test.labels },
        config,
        signal,
      );
    const linear = await head('linear');
    const mlp = await head('mlp').catch((err: unknown) => {
      linear.head.dispose(); // (a cancelled probe keeps no head)
      throw err;
    });
    for (const h of [linear.head, mlp.head]) foldStandardization(h, moments);
    return { scores: { linear: linear.testAccuracy, mlp: mlp.testAccuracy }, heads: { linear: linear.head, mlp: mlp.head } };
  } finally {
    tf.dispose([trainFeatures, testFeatures, moments.mean, moments.std]);
  }
}
