/**
 * CPC losses.
 *  - binary (the seed's): per sequence, logit = scale * mean over future steps
 *    and code dims of prediction . encoding; sigmoid cross-entropy against the
 *    sequence label; metric binary accuracy, chance = fraction of the majority class.
 *  - infonce (the paper's): score each positive sequence's prediction for
 *    future step k against candidate encodings, softmax cross-entropy with its
 *    own future image as the target; metric top-1 accuracy, chance = the mean
 *    of 1 / candidates. The candidates (`negatives`):
 *      - `step`: the true futures at step k of all positive sequences (the
 *        seed's in-batch negatives);
 *      - `batch`: every future image of the batch, at every step, of positive
 *        and negative sequences alike (128 with batch 32 x 4 steps).
 *    `sameClassNegatives: 'mask'` drops the candidates of the target's own class (other
 *    than the target): the context cannot tell which image of a class comes
 *    next, so they are collisions, not negatives (in the `sorted` task, every
 *    sequence with the same start).
 * Scores are dot products (`similarity: 'dot'`, the seed's) or, with `similarity: 'cosine'`,
 * dot products of the L2-normalised vectors, so `logitScale` is an inverse temperature.
 */
import * as tf from './tf.js';
import { kernels } from './ops/kernels.js';
import type { LossKind, NegativeSet, SameClassNegatives, Similarity } from './config.js';

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

export interface CandidateSpec {
  negatives: NegativeSet;
  sameClassNegatives: SameClassNegatives;
}

/**
 * Which candidates each InfoNCE query may pick: queries are (positive sequence i, step k) rows in
 * that order, candidates the batch's future images (sequence, step) row-major. Returns the
 * additive mask (0 or -1e9, [queries, candidates]), each query's target column and the chance
 * of a uniform pick.
 */
export function candidateMask(
  positives: number[],
  labels: Float32Array,
  futureClasses: Int32Array,
  steps: number,
  spec: CandidateSpec,
): { mask: Float32Array; targets: Int32Array; chance: number } {
  const candidates = labels.length * steps;
  const mask = new Float32Array(positives.length * steps * candidates);
  const targets = new Int32Array(positives.length * steps);
  let chance = 0;
  positives.forEach((seq, q) => {
    for (let k = 0; k < steps; k++) {
      const row = q * steps + k;
      const target = seq * steps + k;
      targets[row] = target;
      let open = 0;
      for (let c = 0; c < candidates; c++) {
        const [cSeq, cStep] = [Math.floor(c / steps), c % steps];
        const allowed =
          c === target ||
          ((spec.negatives === 'batch' || (cStep === k && labels[cSeq] > 0.5)) &&
            !(spec.sameClassNegatives === 'mask' && futureClasses[c] === futureClasses[target]));
        if (allowed) open++;
        else mask[row * candidates + c] = -1e9;
      }
      chance += 1 / open;
    }
  });
  return { mask, targets, chance: chance / targets.length };
}

/**
 * Every positive sequence's prediction (queries: rows in `candidateMask`'s order) against every
 * future code of the batch (candidates): the unscaled, unmasked [queries, candidates] scores.
 */
export function candidateScores(predictions: tf.Tensor3D, futureCodes: tf.Tensor3D, positives: number[]): tf.Tensor2D {
  const [b, steps, d] = predictions.shape;
  const queries = tf.reshape(selectRows(predictions, positives), [positives.length * steps, d]);
  return tf.matMul(queries, tf.reshape(futureCodes, [b * steps, d]), false, true);
}

/**
 * InfoNCE over the candidates `candidateMask` allows. predictions/futureCodes: [B, K, D] for the
 * whole batch; futureClasses: [B * K] the class of each future image.
 */
export function infoNceLoss(
  predictions: tf.Tensor3D,
  futureCodes: tf.Tensor3D,
  labels: Float32Array,
  futureClasses: Int32Array,
  scale: number,
  spec: CandidateSpec,
): LossOutput {
  const [b, steps] = predictions.shape;
  const positives = positiveIndices(labels);
  const { mask, targets, chance } = candidateMask(positives, labels, futureClasses, steps, spec);
  const scores = tf.add(
    tf.mul(candidateScores(predictions, futureCodes, positives), scale),
    tf.tensor2d(mask, [targets.length, b * steps]),
  );
  const targetIds = tf.tensor1d(targets, 'int32');
  const loss = tf.losses.softmaxCrossEntropy(tf.oneHot(targetIds, b * steps), scores) as tf.Scalar;
  const accuracy = tf.mean(tf.cast(tf.equal(tf.argMax(scores, 1), targetIds), 'float32')) as tf.Scalar;
  return { loss, accuracy, chance };
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

export interface LossInputs {
  predictions: tf.Tensor3D;
  futureCodes: tf.Tensor3D;
  /** 1 for a positive sequence, 0 for a negative one */
  labels: Float32Array;
  /** [B * K] the class of each future image */
  futureClasses: Int32Array;
}

/** x / |x| along the last axis (the epsilon keeps a zero vector finite) */
function unitVectors<T extends tf.Tensor>(x: T): T {
  return tf.div(x, tf.sqrt(tf.add(tf.sum(tf.square(x), -1, true), 1e-12)));
}

/** the vectors the scores are products of: as they are, or normalised to length 1 for cosine similarity */
export function scoredVectors(
  predictions: tf.Tensor3D,
  futureCodes: tf.Tensor3D,
  similarity: Similarity,
): { predictions: tf.Tensor3D; futureCodes: tf.Tensor3D } {
  return similarity === 'cosine'
    ? { predictions: unitVectors(predictions), futureCodes: unitVectors(futureCodes) }
    : { predictions, futureCodes };
}

export function cpcLoss(
  kind: LossKind,
  inputs: LossInputs,
  scale: number,
  candidates: CandidateSpec,
  similarity: Similarity = 'dot',
): LossOutput {
  const { labels, futureClasses } = inputs;
  const { predictions, futureCodes } = scoredVectors(inputs.predictions, inputs.futureCodes, similarity);
  if (kind === 'binary') return binaryLoss(predictions, futureCodes, labels, scale);
  return infoNceLoss(predictions, futureCodes, labels, futureClasses, scale, candidates);
}
