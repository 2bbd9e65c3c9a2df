/**
 * The few training ops whose fastest form depends on the backend, behind one
 * interface. The portable set (wasm, cpu) avoids what the wasm backend lacks
 * or runs slowly: strided-conv gradients become stride-1 convolutions and
 * matMuls (./conv.ts), column sums become pooling and a matMul, row
 * selection becomes a one-hot matMul. The native set (tfjs-node, -gpu) uses
 * TensorFlow's own kernels: Conv2DBackpropInput/Filter, Sum, GatherV2,
 * FusedBatchNormV3 and LeakyRelu with their gradients (each measured faster
 * there: BENCHMARKS.md, scripts/bench-kernels.ts).
 * `CPC_KERNELS=portable|native` overrides the choice (for measurements).
 */
import * as tf from '../tf.js';
import { conv2dValid as spaceToDepthConv } from './conv.js';
import type { BatchNormLeakyResult, BatchNormSpec } from './batchnorm.js';
import { batchNormLeakyTrainFused } from './batchnorm-native.js';

export interface KernelSet {
  name: 'portable' | 'native';
  /** y = conv2d(x, w, stride, 'valid'), differentiable in x (unless inputGradient is false) and w */
  conv2dValid(x: tf.Tensor4D, w: tf.Tensor4D, stride: number, inputGradient: boolean): tf.Tensor4D;
  /** column sums of [M, C] as [C]; `rowsPerImage` > 1: the rows are NHWC pixels of images of that many pixels */
  columnSums(x: tf.Tensor2D, rowsPerImage: number): tf.Tensor1D;
  /** rows `indices` of [B, K, D], differentiable */
  selectRows(x: tf.Tensor3D, indices: number[]): tf.Tensor3D;
  /**
   * training-mode batch norm + LeakyReLU of [M, C] in one fused kernel, for one replica;
   * absent: composed from element-wise ops and columnSums (./batchnorm.ts)
   */
  batchNormLeakyTrain?(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, spec: BatchNormSpec): BatchNormLeakyResult;
}

export const PORTABLE_KERNELS: KernelSet = {
  name: 'portable',
  conv2dValid: spaceToDepthConv,
  columnSums(x, rowsPerImage) {
    const [m, c] = x.shape;
    let rows: tf.Tensor2D = x;
    // a global average pool per image first: ~30x faster than a ones-vector matMul on wasm, which re-packs its large right operand
    if (rowsPerImage > 1 && m % rowsPerImage === 0) {
      const pooled = tf.avgPool(tf.reshape(x, [m / rowsPerImage, 1, rowsPerImage, c]) as tf.Tensor4D, [1, rowsPerImage], 1, 'valid');
      rows = tf.mul(tf.reshape(pooled, [m / rowsPerImage, c]), rowsPerImage);
    }
    return tf.reshape(tf.matMul(tf.ones([1, rows.shape[0]]), rows), [c]);
  },
  selectRows(x, indices) {
    // gather's gradient needs UnsortedSegmentSum, which the wasm backend lacks
    const [b, k, d] = x.shape;
    const selection = tf.oneHot(tf.tensor1d(indices, 'int32'), b);
    return tf.reshape(tf.matMul(selection, tf.reshape(x, [b, k * d])), [indices.length, k, d]);
  },
};

export const NATIVE_KERNELS: KernelSet = {
  name: 'native',
  // (the first layer's input is data, not a variable: autodiff never computes its gradient)
  conv2dValid: (x, w, stride) => tf.conv2d(x, w, stride, 'valid'),
  columnSums: (x) => tf.sum(x, 0),
  selectRows: (x, indices) => tf.gather(x, tf.tensor1d(indices, 'int32')),
  batchNormLeakyTrain: batchNormLeakyTrainFused,
};

/** the kernel set for the active backend (or CPC_KERNELS) */
export function kernels(): KernelSet {
  const forced = process.env.CPC_KERNELS;
  if (forced === 'portable') return PORTABLE_KERNELS;
  if (forced === 'native') return NATIVE_KERNELS;
  return tf.getBackend() === 'tensorflow' ? NATIVE_KERNELS : PORTABLE_KERNELS;
}
