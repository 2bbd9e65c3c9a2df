/**
 * Training-mode batch norm + LeakyReLU on TensorFlow's own kernels
 * (FusedBatchNormV3, LeakyRelu and their gradients): a few passes over the
 * activations where the composed form (./batchnorm.ts) needs a dozen
 * element-wise ops. One replica only: the statistics are this batch's.
 */
import * as tf from '../tf.js';
import type { BatchNormLeakyResult, BatchNormSpec } from './batchnorm.js';
import { fusedBatchNormGrad, fusedBatchNormTrain, leakyReluGrad } from './tf-native.js';

export function batchNormLeakyTrainFused(
  x: tf.Tensor2D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  { epsilon, alpha }: BatchNormSpec,
): BatchNormLeakyResult {
  const [m, c] = x.shape;
  let kept: tf.Tensor1D[] = [];
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const x4 = tf.reshape(xIn, [m, 1, 1, c]) as tf.Tensor4D;
    const { y, mean, variance, reserve } = fusedBatchNormTrain(x4, gIn, bIn, epsilon);
    // the statistics outlive this forward scope; cloned into the caller's scope below
    kept = [tf.keep(mean), tf.keep(variance)];
    const pre = tf.reshape(y, [m, c]);
    save([x4, gIn, pre, ...reserve]);
    return {
      value: alpha === null ? pre : tf.leakyRelu(pre, alpha),
      gradFunc: (dOut: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, g, ys, ...spaces] = saved as [tf.Tensor4D, tf.Tensor1D, tf.Tensor2D, ...tf.Tensor[]];
        const dy = alpha === null ? (dOut as tf.Tensor) : leakyReluGrad(dOut as tf.Tensor, ys, alpha);
        const [dx, dGamma, dBeta] = fusedBatchNormGrad(tf.reshape(dy, [m, 1, 1, c]) as tf.Tensor4D, xs, g, spaces, epsilon);
        return [tf.reshape(dx, [m, c]), dGamma, dBeta];
      },
    };
  });
  const output = op(x, gamma, beta) as tf.Tensor2D;
  const [mean, variance] = kept.map((t) => tf.clone(t));
  tf.dispose(kept);
  return { output, stats: { mean, variance } };
}
