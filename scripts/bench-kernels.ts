/**
 * Why the engine's ops look the way they do, on the shapes of one training
 * step (batch 32 x 8 images of 64x64), on one backend:
 *  1. each op of the two kernel sets (src/cpc/ops/kernels.ts), value and
 *     gradients, portable beside native: the faster one is the backend's set;
 *  2. on wasm, each slow kernel beside the replacement the portable set uses.
 * Prints one JSON line per comparison.
 *   node --import tsx scripts/bench-kernels.ts [wasm|node|cpu]
 */
import * as tf from '../src/cpc/tf.js';
import { initBackend, parseBackendChoice } from '../src/cpc/backend.js';
import { NATIVE_KERNELS, PORTABLE_KERNELS, type KernelSet } from '../src/cpc/ops/kernels.js';
import { batchNormLeakyComposed } from '../src/cpc/ops/batchnorm.js';

const backend = await initBackend(parseBackendChoice(process.argv[2] ?? 'wasm'));

function ms(f: () => tf.Tensor | tf.Tensor[], repeats = 5): number {
  tf.dispose(f());
  const t0 = performance.now();
  for (let i = 0; i < repeats; i++) tf.dispose(f());
  return +((performance.now() - t0) / repeats).toFixed(2);
}

// 1. the kernel sets, value and gradients (what a training step runs)
const x2 = tf.randomNormal([256, 31, 31, 64]) as tf.Tensor4D;
const w = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
const rows = tf.randomNormal([256 * 15 * 15, 64]) as tf.Tensor2D;
const codes = tf.randomNormal([32, 4, 128]) as tf.Tensor3D;
const positives = Array.from({ length: 16 }, (_, i) => 2 * i);
const activations = tf.randomNormal([256 * 31 * 31, 64]) as tf.Tensor2D;
const [gamma, beta] = [tf.ones([64]) as tf.Tensor1D, tf.zeros([64]) as tf.Tensor1D];
/** sum of BN + LeakyReLU over the first layer's activations, by the set's fused kernel or else the composed form */
const batchNormLoss = (k: KernelSet) => (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
  const { output, stats } = (k.batchNormLeakyTrain ?? batchNormLeakyComposed)(a as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, {
    epsilon: 1e-3,
    alpha: 0.3,
    rowsPerImage: 961,
  });
  tf.dispose([stats.mean, stats.variance]);
  return tf.sum(output);
};
const ops: Array<[string, (k: KernelSet) => () => tf.Tensor[]]> = [
  [
    'conv layer 2 (256x31x31x64 -> 15x15, 3x3 stride 2): y, dx, dw',
    (k) => () => tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(k.conv2dValid(a as tf.Tensor4D, b as tf.Tensor4D, 2, true)))([x2, w]),
  ],
  // (BN's own gradient calls columnSums too: it is never differentiated)
  ['column sums of BN layer 2 (57600x64, 225 rows per image)', (k) => () => [k.columnSums(rows, 225)]],
  [
    'BN + LeakyReLU of layer 1 (246016x64, 961 rows per image): y, dx, dgamma, dbeta',
    (k) => () => tf.grads(batchNormLoss(k))([activations, gamma, beta]),
  ],
  [
    'select 16 of 32 rows of [32, 4, 128] and gradient',
    (k) => () => tf.grads((a: tf.Tensor) => tf.sum(k.selectRows(a as tf.Tensor3D, positives)))([codes]),
  ],
];
for (const [name, op] of ops) {
  const portableMs = ms(op(PORTABLE_KERNELS));
  let nativeMs: number | string;
  try {
    nativeMs = ms(op(NATIVE_KERNELS));
  } catch (err) {
    nativeMs = `unavailable: ${(err as Error).message}`; // wasm has no Conv2DBackpropFilter
  }
  console.log(
    JSON.stringify({
      backend: backend.name,
      op: name,
      portableMs,
      nativeMs,
      faster: typeof nativeMs === 'string' || portableMs < nativeMs ? 'portable' : 'native',
    }),
  );
}
if (backend.name !== 'wasm') process.exit(0);

// 2. wasm: each slow kernel beside the portable set's replacement
const w2 = tf.randomNormal([3, 3, 64, 64]) as tf.Tensor4D;
const dy2 = tf.randomNormal([256, 15, 15, 64]) as tf.Tensor4D;
const dyPadded = tf.pad(dy2, [
  [0, 0],
  [1, 1],
  [1, 1],
  [0, 0],
]) as tf.Tensor4D;
const grid = tf.randomNormal([2, 2, 64, 256]) as tf.Tensor4D;
const act = tf.randomNormal([256 * 31 * 31, 64]) as tf.Tensor2D;
const big = tf.randomNormal([256, 32, 32, 64]) as tf.Tensor4D;
const oneHot = tf.reshape(tf.concat([tf.ones([1, 64, 1]), tf.zeros([3, 64, 1])]), [2, 2, 64, 1]) as tf.Tensor4D;
const a = tf.randomNormal([57600, 256]) as tf.Tensor2D;
const b = tf.randomNormal([57600, 64]) as tf.Tensor2D;
const aT = tf.randomNormal([256, 57600]) as tf.Tensor2D;
const ones = tf.ones([1, 256 * 31 * 31]) as tf.Tensor2D;

const pairs: Array<[string, () => tf.Tensor, string, () => tf.Tensor]> = [
  [
    'Conv2DBackpropInput (layer 2 dx)',
    () => tf.conv2dTranspose(dy2, w2, [256, 31, 31, 64], 2, 'valid'),
    'stride-1 2x2 conv on space-to-depth grid',
    () => tf.conv2d(dyPadded, grid, 1, 'valid'),
  ],
  [
    'matMul with transposeA (filter grad)',
    () => tf.matMul(a, b, true, false),
    'plain matMul of pre-arranged operands',
    () => tf.matMul(aT, b),
  ],
  [
    'ones-vector matMul column sums (fresh operand)',
    () => tf.matMul(ones, tf.add(act, 0)),
    'global average pool column sums',
    () => tf.avgPool(tf.reshape(tf.add(act, 0), [256, 1, 961, 64]) as tf.Tensor4D, [1, 961], 1, 'valid'),
  ],
  [
    'Slice (crop 32->31)',
    () => tf.slice(big, [0, 0, 0, 0], [256, 31, 31, 64]),
    'depthwise conv with a one-hot kernel',
    () => tf.depthwiseConv2d(big, oneHot, 1, 'valid'),
  ],
  [
    'LeakyRelu kernel',
    () => tf.leakyRelu(act, 0.3),
    'alpha*y + (1-alpha)*relu(y)',
    () => tf.add(tf.mul(act, 0.3), tf.mul(tf.relu(act), 0.7)),
  ],
  [
    'BatchNorm kernel',
    () => tf.batchNorm(act, tf.zeros([64]), tf.ones([64]), tf.zeros([64]), tf.ones([64]), 1e-3),
    'broadcast multiply-add',
    () => tf.add(tf.mul(act, tf.ones([64])), tf.zeros([64])),
  ],
];
for (const [slowName, slow, fastName, fast] of pairs) {
  const slowMs = ms(slow);
  const fastMs = ms(fast);
  console.log(JSON.stringify({ slow: slowName, slowMs, fast: fastName, fastMs, speedup: +(slowMs / fastMs).toFixed(1) }));
}
