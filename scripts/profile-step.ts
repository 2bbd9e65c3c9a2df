/**
 * Where one training step's time goes, per TensorFlow.js kernel (tf.profile), on
 * tfjs-node: the seed step (64x64 colour, batch 32), 3 warm-up steps, then 3
 * profiled. Kernel times of custom ops (`forward`, `Step`) include their inner
 * kernels; the gradients of ops run directly on TensorFlow are not listed.
 *   node --import tsx scripts/profile-step.ts
 */
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { resolveConfig } from '../src/cpc/config.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { SequenceBatcher } from '../src/cpc/batches.js';
import { createStepper } from '../src/cpc/trainer.js';
await initBackend('node', { threads: 2 });
const config = resolveConfig({ imageSize: 64, batchSize: 32, color: 'color', greySteps: 0, workers: 1 });
const stepper = await createStepper(config, 1, 1);
const batcher = new SequenceBatcher(loadDataset(), proceduralTexture(config.textureSeed), 2);
const b = batcher.next('train', config);
for (let i = 0; i < 3; i++) await stepper.train(b);
const by: Record<string, { ms: number; n: number; shapes: Set<string> }> = {};
let total = 0;
const N = 3;
const t0 = performance.now();
for (let i = 0; i < N; i++) {
  const info = await tf.profile(async () => {
    await stepper.train(b);
  });
  for (const k of info.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    const key = k.name;
    by[key] ??= { ms: 0, n: 0, shapes: new Set() };
    by[key].ms += ms;
    by[key].n++;
    total += ms;
    if (ms > 5) by[key].shapes.add(JSON.stringify(k.inputShapes) + ' ' + ms.toFixed(0));
  }
}
console.log('wall ms/step', ((performance.now() - t0) / N).toFixed(0), 'kernel ms/step', (total / N).toFixed(0));
for (const [k, v] of Object.entries(by)
  .sort((a, b) => b[1].ms - a[1].ms)
  .slice(0, 25))
  console.log(k.padEnd(28), (v.ms / N).toFixed(1).padStart(7), String(v.n / N).padStart(5), [...v.shapes].slice(0, 4).join(' | '));
