/**
 * Raw-pixel probes under four feature scalings (BENCHMARKS.md "Representations", part 1): none,
 * per-feature standardisation (what probes do), per-feature with the mean deviation added, one
 * global mean and deviation. Same images, heads and seeds for each.
 *   node --import tsx scripts/study/raw-scaling.ts DATA_DIR IMAGE_SIZE COLOR TRAIN_IMAGES EPOCHS [LR=0.001]
 */
import * as tf from '../../src/cpc/tf.js';
import { initBackend } from '../../src/cpc/backend.js';
import { loadDataset } from '../../src/cpc/load-dataset.js';
import { proceduralTexture } from '../../src/cpc/texture.js';
import { Rng } from '../../src/cpc/rng.js';
import type { ColorMode } from '../../src/cpc/images.js';
import { computeFeatures, featureMoments, sampleLabelledImages, trainHead, DEFAULT_PROBE, rawPixelFeatures } from '../../src/cpc/probe.js';

const [dir, size, color, trainImages, epochs, lr = '0.001'] = process.argv.slice(2);
if (!epochs) throw new Error('usage: raw-scaling.ts DATA_DIR IMAGE_SIZE COLOR TRAIN_IMAGES EPOCHS [LR]');
await initBackend('auto');
const data = loadDataset(dir);
const style = { imageSize: Number(size), color: color as ColorMode };
const rng = new Rng(101);
const texture = proceduralTexture(1234);
const train = sampleLabelledImages(data, 'train', Number(trainImages), style, texture, rng);
const test = sampleLabelledImages(data, 'test', 10_000, style, texture, rng);
const trainRaw = computeFeatures(train, rawPixelFeatures);
const testRaw = computeFeatures(test, rawPixelFeatures);
const { mean, variance } = tf.moments(trainRaw, 0);
const std = tf.sqrt(variance);
const probeMoments = featureMoments(trainRaw);
const scalings: Record<string, (x: tf.Tensor2D) => tf.Tensor2D> = {
  none: (x) => x.clone(),
  // (what probeFeatures does)
  perFeature: (x) => tf.div(tf.sub(x, probeMoments.mean), probeMoments.std),
  perFeaturePlusMeanDeviation: (x) => tf.div(tf.sub(x, mean), tf.add(std, tf.mean(std))),
  global: (x) => tf.div(tf.sub(x, tf.mean(mean)), tf.sqrt(tf.mean(variance))),
};
const config = { ...DEFAULT_PROBE, epochs: Number(epochs), learningRate: Number(lr) };
for (const [name, scale] of Object.entries(scalings)) {
  const [a, b] = [scale(trainRaw), scale(testRaw)];
  const scores: Record<string, number> = {};
  for (const kind of ['linear', 'mlp'] as const) {
    const { head, testAccuracy } = await trainHead(
      kind,
      { features: a, labels: train.labels, classes: train.classes },
      { features: b, labels: test.labels },
      config,
    );
    scores[kind] = testAccuracy;
    head.dispose();
  }
  console.log(JSON.stringify({ scaling: name, ...scores }));
  tf.dispose([a, b]);
}
