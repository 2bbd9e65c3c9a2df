/**
 * CPC losses.
 *  - binary (the seed's): per sequence, logit = scale * mean over future steps
 *    and code dims of prediction . encoding; sigmoid cross-entropy against the
 *    sequence label; metric binary accuracy, chance = fraction of the majority class.
 *  - infonce (the paper's): for every future step k, score each positive
 *    sequence's prediction against the true future encodings of all positive
 *    sequences in the batch (in-batch negatives); softmax cross-entropy with
 *    the own future as target; metric top-1 accuracy, chance = 1 / positives.
 */
import * as tf from './tf.js';
import { kernels } from './ops/kernels.js';
import type { LossKind } from './config.js';

export interface LossOutput {
  loss: tf.Scalar;
  accuracy: tf.Scalar;
  /** accuracy of guessing (majority class / uniform pick) */
  chance: number;
}

export function binaryLogits(predictions: tf.Tensor3D, futureCodes: tf.Tensor3D, scale: number): tf.Tensor1D {
  return tf.mul(tf.mean(tf.mul(predictions, futureCodes), [1, 2]), scale) as tf.Tensor1D;
}

export function binaryLoss(predictions: tf.Tensor3D, futureCodes: tf.Tensor3D, labelValues: Float32Array, scale = 1): LossOutput {
  const labels = tf.tensor1d(labelValues);
  const logits = binaryLogits(predictions, futureCodes, scale);
  const loss = tf.losses.sigmoidCrossEntropy(labels, logits) as tf.Scalar;
  const accuracy = tf.mean(tf.cast(tf.equal(tf.greater(logits, 0), tf.greater(labels, 0.5)), 'float32')) as tf.Scalar;
  const positives = labelValues.reduce((a, b) => a + b, 0) / labelValues.length;
  return { loss, accuracy, chance: Math.max(positives, 1 - positives) };
}

/** predictions/futureCodes restricted to the positive sequences: [P, K, D]. */
export function infoNceLoss(predictions: tf.Tensor3D, futureCodes: tf.Tensor3D, scale = 1): LossOutput {
  const [n, steps] = predictions.shape;
  const targets = tf.oneHot(tf.range(0, n, 1, 'int32'), n);
  const losses: tf.Scalar[] = [];
  const hits: tf.Scalar[] = [];
  for (let k = 0; k < steps; k++) {
    const pk = tf.squeeze(tf.slice(predictions, [0, k, 0], [n, 1, -1]), [1]) as tf.Tensor2D;
    const zk = tf.squeeze(tf.slice(futureCodes, [0, k, 0], [n, 1, -1]), [1]) as tf.Tensor2D;
    const scores = tf.mul(tf.matMul(pk, zk, false, true), scale) as tf.Tensor2D;
    losses.push(tf.losses.softmaxCrossEntropy(targets, scores) as tf.Scalar);
    hits.push(tf.mean(tf.cast(tf.equal(tf.argMax(scores, 1), tf.range(0, n, 1, 'int32')), 'float32')) as tf.Scalar);
  }
  return { loss: tf.mean(tf.stack(losses)) as tf.Scalar, accuracy: tf.mean(tf.stack(hits)) as tf.Scalar, chance: 1 / n };
}

/** Rows `indices` of a [B, K, D] tensor, differentiable on every backend (./ops/kernels.ts). */
export function selectRows(x: tf.Tensor3D, indices: number[]): tf.Tensor3D {
  return kernels().selectRows(x, indices);
}

/** Indices of the positive sequences of a batch. */
export function positiveIndices(labels: Float32Array): number[] {
  const out: number[] = [];
  labels.forEach((l, i) => {
    if (l > 0.5) out.push(i);
  });
  return out;
}

export function cpcLoss(
  kind: LossKind,
  predictions: tf.Tensor3D,
  futureCodes: tf.Tensor3D,
  labels: Float32Array,
  scale: number,
): LossOutput {
  if (kind === 'binary') return binaryLoss(predictions, futureCodes, labels, scale);
  const positives = positiveIndices(labels);
  return infoNceLoss(selectRows(predictions, positives), selectRows(futureCodes, positives), scale);
}
