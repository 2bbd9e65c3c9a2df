/**
 * Why the engine's ops look the way they do: the wasm backend's time for each
 * slow kernel beside the replacement the engine uses, on the shapes of one
 * training step (batch 32 x 8 images of 64x64). Prints one JSON line per pair.
 *   node --import tsx scripts/bench-kernels.ts
 */
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';

await initBackend('wasm');

function ms(f: () => tf.Tensor | tf.Tensor[], repeats = 5): number {
  tf.dispose(f());
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) tf.dispose(f());
  return +((performance.now() - t0) / repeats).toFixed(2);
}

const w2 = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
const dy2 = tf.randomNormal([256, 15, 15, 64]) as tf.Tensor4D;
const dyPadded = tf.pad(dy2, [[0, 0], [1, 1], [1, 1], [0, 0]]) as tf.Tensor4D;
const grid = tf.randomNormal([2, 2, 64, 256]) as tf.Tensor4D;
const act = tf.randomNormal([256 * 31 * 31, 64]) as tf.Tensor2D;
const big = tf.randomNormal([256, 32, 32, 64]) as tf.Tensor4D;
const oneHot = tf.reshape(tf.concat([tf.ones([1, 64, 1]), tf.zeros([3, 64, 1])]), [2, 2, 64, 1]) as tf.Tensor4D;
const a = tf.randomNormal([57600, 256]) as tf.Tensor2D;
const b = tf.randomNormal([57600, 64]) as tf.Tensor2D;
const aT = tf.randomNormal([256, 57600]) as tf.Tensor2D;
const ones = tf.ones([1, 256 * 31 * 31]) as tf.Tensor2D;

const pairs: Array<[string, () => tf.Tensor, string, () => tf.Tensor]> = [
  ['Conv2DBackpropInput (layer 2 dx)', () => tf.conv2dTranspose(dy2, w2, [256, 31, 31, 64], 2, 'valid'), 'stride-1 2x2 conv on space-to-depth grid', () => tf.conv2d(dyPadded, grid, 1, 'valid')],
  ['matMul with transposeA (filter grad)', () => tf.matMul(a, b, true, false), 'plain matMul of pre-arranged operands', () => tf.matMul(aT, b)],
  ['ones-vector matMul column sums (fresh operand)', () => tf.matMul(ones, tf.add(act, 0)), 'global average pool column sums', () => tf.avgPool(tf.reshape(tf.add(act, 0), [256, 1, 961, 64]) as tf.Tensor4D, [1, 961], 1, 'valid')],
  ['Slice (crop 32->31)', () => tf.slice(big, [0, 0, 0, 0], [256, 31, 31, 64]), 'depthwise conv with a one-hot kernel', () => tf.depthwiseConv2d(big, oneHot, 1, 'valid')],
  ['LeakyRelu kernel', () => tf.leakyRelu(act, 0.3), 'alpha*y + (1-alpha)*relu(y)', () => tf.add(tf.mul(act, 0.3), tf.mul(tf.relu(act), 0.7))],
  ['BatchNorm kernel', () => tf.batchNorm(act, tf.zeros([64]), tf.ones([64]), tf.zeros([64]), tf.ones([64]), 1e-3), 'broadcast multiply-add', () => tf.add(tf.mul(act, tf.ones([64])), tf.zeros([64]))],
];
for (const [slowName, slow, fastName, fast] of pairs) {
  const slowMs = ms(slow);
  const fastMs = ms(fast);
  console.log(JSON.stringify({ slow: slowName, slowMs, fast: fastName, fastMs, speedup: +(slowMs / fastMs).toFixed(1) }));
}
