/** `cpc bench train`: time optimisation steps of the seed architecture on pre-generated batches. */
import * as tf from '../cpc/tf.js';
import { initBackend, parseBackendChoice } from '../cpc/backend.js';
import { resolveConfig } from '../cpc/config.js';
import { CpcNetwork } from '../cpc/model.js';
import { loadDigits } from '../cpc/mnist.js';
import { proceduralTexture } from '../cpc/texture.js';
import { SequenceBatcher } from '../cpc/batches.js';
import { trainStep } from '../cpc/train-step.js';
import type { ColorMode } from '../cpc/images.js';

export interface BenchFlags {
  backend: string;
  imageSize: number;
  batchSize: number;
  steps: number;
  warmup: number;
  color: ColorMode;
  json?: boolean;
}

export async function benchTrain(f: BenchFlags): Promise<void> {
  const backend = await initBackend(parseBackendChoice(f.backend));
  const config = resolveConfig({ imageSize: f.imageSize, batchSize: f.batchSize, color: f.color, greySteps: 0 });
  const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, 1);
  const optimizer = tf.train.adam(config.learningRate);
  const batcher = new SequenceBatcher(loadDigits(), proceduralTexture(config.textureSeed), 2);
  const batches = [batcher.next('train', config), batcher.next('train', config)];
  for (let i = 0; i < f.warmup; i++) trainStep(network, optimizer, batches[i % 2], config);
  const tensorsBefore = tf.memory().numTensors;
  const started = performance.now();
  for (let i = 0; i < f.steps; i++) trainStep(network, optimizer, batches[i % 2], config);
  const msPerStep = (performance.now() - started) / f.steps;
  const images = config.batchSize * (config.terms + config.predictTerms);
  const result = {
    backend: backend.name,
    imageSize: config.imageSize,
    batchSize: config.batchSize,
    imagesPerStep: images,
    steps: f.steps,
    msPerStep: Math.round(msPerStep),
    imagesPerSec: +((images * 1000) / msPerStep).toFixed(1),
    tensorLeakPerStep: (tf.memory().numTensors - tensorsBefore) / f.steps,
    date: new Date().toISOString(),
  };
  network.dispose();
  optimizer.dispose();
  process.stdout.write((f.json ? JSON.stringify(result) : JSON.stringify(result, null, 2)) + '\n');
}
