/**
 * The training ops of each kernel set (src/cpc/ops/kernels.ts: strided conv
 * via space-to-depth or TensorFlow's own, fused BN+LeakyReLU, column sums, row
 * selection) against TensorFlow.js's own gradients on the cpu backend, and
 * against finite differences, on the test backend: wasm (with cpu) or, in the
 * `native` project, tensorflow.
 */
import { it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { batchNormLeakyComposed } from '../src/cpc/ops/batchnorm.js';
import { NATIVE_KERNELS, PORTABLE_KERNELS, type KernelSet } from '../src/cpc/ops/kernels.js';
import { ON_NATIVE, TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';

/** the tfjs backends under test, and the kernel sets each must get right */
const BACKENDS = ON_NATIVE ? ['tensorflow'] : ['cpu', 'wasm'];
const SETS: KernelSet[] = ON_NATIVE ? [NATIVE_KERNELS, PORTABLE_KERNELS] : [PORTABLE_KERNELS];

beforeAll(async () => {
  if (BACKEND_SKIP_REASON) return;
  await initBackend(TEST_BACKEND);
  await initBackend('cpu');
});

function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]);
}
function maxAbs(a: tf.Tensor): number {
  return tf.tidy(() => tf.max(tf.abs(a)).dataSync()[0]);
}

async function onBackend<T>(name: string, f: () => T): Promise<T> {
  await tf.setBackend(name);
  return f();
}

const cases: Array<[h: number, c: number, f: number, k: number, s: number]> = [
  [64, 3, 8, 3, 2],
  [31, 6, 5, 3, 2],
  [15, 4, 4, 3, 2],
  [7, 3, 3, 3, 2],
  [9, 2, 3, 3, 1],
  [11, 2, 2, 5, 3],
];

describeOnBackend('strided conv gradients', () => {
  for (const [h, c, f, k, s] of cases) {
    it(`input ${h}x${h}x${c}, ${k}x${k}x${f} kernel, stride ${s}: ${BACKENDS.join(' and ')} agree with the reference (${SETS.map((k) => k.name).join(', ')} kernels)`, async () => {
      const x = await onBackend('cpu', () => tf.randomNormal([2, h, h, c], 0, 1, 'float32', 1) as tf.Tensor4D);
      const w = tf.randomNormal([k, k, c, f], 0, 1, 'float32', 2) as tf.Tensor4D;
      const outShape = tf.conv2d(x, w, s, 'valid').shape;
      const r = tf.randomNormal(outShape, 0, 1, 'float32', 3);
      const reference = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
        tf.sum(tf.mul(tf.conv2d(a as tf.Tensor4D, b as tf.Tensor4D, s, 'valid'), r)),
      );
      const [refDx, refDw] = reference([x, w]);
      for (const set of SETS) {
        const ours = tf.grads((a: tf.Tensor, b: tf.Tensor) =>
          tf.sum(tf.mul(set.conv2dValid(a as tf.Tensor4D, b as tf.Tensor4D, s, true), r)),
        );
        for (const backend of BACKENDS) {
          const [dx, dw] = await onBackend(backend, () => ours([x, w]));
          await tf.setBackend('cpu');
          expect(maxAbsDiff(dx, refDx) / maxAbs(refDx), `${set.name} on ${backend}`).toBeLessThan(1e-5);
          expect(maxAbsDiff(dw, refDw) / maxAbs(refDw), `${set.name} on ${backend}`).toBeLessThan(1e-5);
        }
      }
    });
  }

  it(`matches finite differences on ${BACKENDS.at(-1)}`, async () => {
    await tf.setBackend(BACKENDS.at(-1)!);
    for (const { conv2dValid, name } of SETS) {
      const x = tf.randomNormal([1, 9, 9, 2], 0, 1, 'float32', 4) as tf.Tensor4D;
      const w = tf.randomNormal([3, 3, 2, 3], 0, 1, 'float32', 5) as tf.Tensor4D;
      const r = tf.randomNormal([1, 4, 4, 3], 0, 1, 'float32', 6);
      const loss = (wv: tf.Tensor4D) => tf.sum(tf.mul(conv2dValid(x, wv, 2, true), r)).dataSync()[0];
      const [, dw] = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(conv2dValid(a as tf.Tensor4D, b as tf.Tensor4D, 2, true), r)))([
        x,
        w,
      ]);
      const wv = w.dataSync();
      const g = dw.dataSync();
      const eps = 1e-2;
      for (const i of [0, 7, 20, 53]) {
        const plus = wv.slice();
        const minus = wv.slice();
        plus[i] += eps;
        minus[i] -= eps;
        const numeric = (loss(tf.tensor4d(plus, w.shape)) - loss(tf.tensor4d(minus, w.shape))) / (2 * eps);
        expect(g[i], name).toBeCloseTo(numeric, 2);
      }
    }
  });
});

describeOnBackend('column sums and row selection', () => {
  it(`agree with tf.sum and tf.gather (values and gradients) on ${BACKENDS.at(-1)}, every kernel set`, async () => {
    await tf.setBackend(BACKENDS.at(-1)!);
    const x = tf.randomNormal([6 * 25, 5], 0, 1, 'float32', 11) as tf.Tensor2D;
    const codes = tf.randomNormal([8, 3, 4], 0, 1, 'float32', 12) as tf.Tensor3D;
    const r = tf.randomNormal([3, 3, 4], 0, 1, 'float32', 13);
    const rows = [1, 4, 6];
    const reference = tf.valueAndGrad((c: tf.Tensor) => tf.sum(tf.mul(tf.gather(c, rows), r)));
    for (const set of SETS) {
      expect(maxAbsDiff(set.columnSums(x, 25), tf.sum(x, 0)), set.name).toBeLessThan(1e-4);
      expect(maxAbsDiff(set.columnSums(x, 1), tf.sum(x, 0)), set.name).toBeLessThan(1e-4);
      const ours = tf.valueAndGrad((c: tf.Tensor) => tf.sum(tf.mul(set.selectRows(c as tf.Tensor3D, rows), r)))(codes);
      // (the reference on cpu: wasm has no gradient for gather)
      const ref = await onBackend('cpu', () => reference(codes));
      await tf.setBackend(BACKENDS.at(-1)!);
      expect(Math.abs(ours.value.dataSync()[0] - ref.value.dataSync()[0]), set.name).toBeLessThan(1e-4);
      expect(maxAbsDiff(ours.grad, ref.grad), set.name).toBeLessThan(1e-5);
    }
  });
});

describeOnBackend('fused batch norm + LeakyReLU', () => {
  it(`matches autodiff of the composite formula (values, statistics and gradients), on ${BACKENDS.join(' and ')}, every kernel set`, async () => {
    for (const backend of BACKENDS) {
      await tf.setBackend(backend);
      const x = tf.randomNormal([4 * 25, 6], 1, 2, 'float32', 7) as tf.Tensor2D;
      const gamma = tf.randomUniform([6], 0.5, 1.5, 'float32', 8) as tf.Tensor1D;
      const beta = tf.randomNormal([6], 0, 1, 'float32', 9) as tf.Tensor1D;
      const r = tf.randomNormal([100, 6], 0, 1, 'float32', 10);
      const moments = tf.moments(x, 0);
      for (const alpha of [0.3, null]) {
        const composite = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
          const { mean, variance } = tf.moments(a, 0);
          const y = tf.add(tf.mul(tf.div(tf.sub(a, mean), tf.sqrt(tf.add(variance, 1e-3))), g), b);
          return tf.sum(tf.mul(alpha === null ? y : tf.leakyRelu(y, alpha), r));
        };
        const ref = tf.valueAndGrads(composite)([x, gamma, beta]);
        // the composed form (ops/batchnorm.ts), and each set's fused kernel where it has one
        const variants = [{ name: 'composed', train: batchNormLeakyComposed }];
        for (const set of SETS) if (set.batchNormLeakyTrain) variants.push({ name: set.name, train: set.batchNormLeakyTrain });
        for (const { name, train } of variants) {
          const label = `${backend} ${name} alpha ${alpha}`;
          const { output, stats } = train(x, gamma, beta, { epsilon: 1e-3, alpha, rowsPerImage: 25 });
          expect(maxAbsDiff(stats.mean, moments.mean), label).toBeLessThan(1e-4);
          expect(maxAbsDiff(stats.variance, moments.variance) / maxAbs(moments.variance), label).toBeLessThan(1e-5);
          tf.dispose([output, stats.mean, stats.variance]);
          const ours = tf.valueAndGrads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
            const out = train(a as tf.Tensor2D, g as tf.Tensor1D, b as tf.Tensor1D, { epsilon: 1e-3, alpha, rowsPerImage: 25 });
            tf.dispose([out.stats.mean, out.stats.variance]);
            return tf.sum(tf.mul(out.output, r));
          })([x, gamma, beta]);
          expect(ours.value.dataSync()[0], label).toBeCloseTo(ref.value.dataSync()[0], 3);
          ours.grads.forEach((g, i) => expect(maxAbsDiff(g, ref.grads[i]) / maxAbs(ref.grads[i]), label).toBeLessThan(1e-4));
        }
      }
    }
  });
});
