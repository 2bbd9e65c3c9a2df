/**
 * Inference on one backend, in process (no HTTP): the seed architecture
 * (64x64 colour encoder, random weights: speed does not depend on them) with
 * an MLP probe head. Prints one JSON line: single-image prediction latency
 * (p50/p99 over 300 calls, 28x28 grey input rendered to 64x64 colour as the
 * API does) and batch-embed throughput (256 images per call).
 *   node --import tsx scripts/bench-embed.ts [wasm|node|cpu]
 */
import * as tf from '../src/cpc/tf.js';
import { initBackend, parseBackendChoice } from '../src/cpc/backend.js';
import { resolveConfig } from '../src/cpc/config.js';
import { CpcNetwork } from '../src/cpc/model.js';
import { encoderAsLayersModel } from '../src/cpc/export.js';
import { buildHead, DEFAULT_PROBE } from '../src/cpc/probe.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { predictImages, type ServableModel } from '../src/cpc/inference.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';

const backend = await initBackend(parseBackendChoice(process.argv[2] ?? 'wasm'));
const config = resolveConfig({});
const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, 1);
const model: ServableModel = {
  encoder: encoderAsLayersModel(network),
  head: buildHead('mlp', config.model.codeSize, 10, DEFAULT_PROBE, 1),
  style: { imageSize: 64, color: 'color' },
  texture: proceduralTexture(config.textureSeed),
  classNames: Array.from({ length: 10 }, (_, i) => String(i)),
};
const test = loadDataset().splits.test;
const grey = (i: number) => Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(test, i).subarray(y * 28, y * 28 + 28)));
const tensorsBefore = tf.memory().numTensors;
for (let i = 0; i < 20; i++) predictImages(model, [grey(i)], false);
const single: number[] = [];
for (let i = 0; i < 300; i++) {
  const t0 = performance.now();
  predictImages(model, [grey(i)], false);
  single.push(performance.now() - t0);
}
single.sort((a, b) => a - b);
const batch = Array.from({ length: 256 }, (_, i) => grey(i));
predictImages(model, batch, true);
const t0 = performance.now();
for (let i = 0; i < 5; i++) predictImages(model, batch, true);
const batchMs = (performance.now() - t0) / 5;
const at = (p: number) => +single[Math.min(single.length - 1, Math.floor((p / 100) * single.length))].toFixed(2);
console.log(
  JSON.stringify({
    backend: backend.name,
    tensorflow: backend.tensorflow,
    threads: backend.threads,
    singleImageMs: { p50: at(50), p99: at(99), max: at(100) },
    embedImagesPerSec: +((256 * 1000) / batchMs).toFixed(1),
    tensorLeak: tf.memory().numTensors - tensorsBefore,
    date: new Date().toISOString(),
  }),
);
network.dispose();
