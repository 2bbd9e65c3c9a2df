/** `cpc bench train`: time optimisation steps of the seed architecture on pre-generated batches. */
import * as tf from '../cpc/tf.js';
import { initBackend, parseBackendChoice } from '../cpc/backend.js';
import { kernels } from '../cpc/ops/kernels.js';
import { resolveConfig } from '../cpc/config.js';
import { loadDataset } from '../cpc/load-dataset.js';
import { proceduralTexture } from '../cpc/texture.js';
import { SequenceBatcher } from '../cpc/batches.js';
import { createStepper, resolveWorkers } from '../cpc/trainer.js';
import type { ColorMode } from '../cpc/images.js';

export interface BenchFlags {
  backend: string;
  imageSize: number;
  batchSize: number;
  steps: number;
  warmup: number;
  color: ColorMode;
  workers: number;
  threads: number;
  json?: boolean;
}

export async function benchTrain(f: BenchFlags): Promise<void> {
  const backend = await initBackend(parseBackendChoice(f.backend), { threads: f.threads });
  const config = resolveConfig({ imageSize: f.imageSize, batchSize: f.batchSize, color: f.color, greySteps: 0, workers: f.workers });
  const workers = resolveWorkers(config);
  const stepper = await createStepper(config, 1, workers);
  const batcher = new SequenceBatcher(loadDataset(), proceduralTexture(config.textureSeed), 2);
  const batches = [batcher.next('train', config), batcher.next('train', config)];
  for (let i = 0; i < f.warmup; i++) await stepper.train(batches[i % 2]);
  const tensorsBefore = tf.memory().numTensors;
  const started = performance.now();
  for (let i = 0; i < f.steps; i++) await stepper.train(batches[i % 2]);
  const msPerStep = (performance.now() - started) / f.steps;
  const images = config.batchSize * (config.terms + config.predictTerms);
  const result = {
    backend: backend.name,
    tensorflow: backend.tensorflow,
    device: backend.device,
    threads: backend.threads,
    kernels: kernels().name,
    workers,
    imageSize: config.imageSize,
    batchSize: config.batchSize,
    imagesPerStep: images,
    steps: f.steps,
    msPerStep: Math.round(msPerStep),
    imagesPerSec: +((images * 1000) / msPerStep).toFixed(1),
    // tensors of this thread (with workers, each worker checks its own in the test suite)
    tensorLeakPerStep: (tf.memory().numTensors - tensorsBefore) / f.steps,
    date: new Date().toISOString(),
  };
  await stepper.dispose();
  process.stdout.write((f.json ? JSON.stringify(result) : JSON.stringify(result, null, 2)) + '\n');
}
