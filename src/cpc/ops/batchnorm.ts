/**
 * Batch normalisation (training mode) fused with LeakyReLU, on [M, C]
 * matrices (NHWC activations viewed as rows x channels). Sums over rows are
 * matrix products with a ones vector, which every backend runs fast (the
 * wasm backend's reductions are slow). The backward pass is written out by
 * hand: dgamma, dbeta and dx in a few element-wise steps.
 */
import * as tf from '../tf.js';
import { SOLO, type Collective } from '../parallel/collective.js';
import { kernels } from './kernels.js';

export interface BatchStats {
  mean: tf.Tensor1D;
  variance: tf.Tensor1D;
}

/** How the statistics of a BN layer are taken: over how many rows per image, and with which data-parallel peers. */
export interface StatsScope {
  /** rows of one image (NHWC pixels): the column sums use it */
  rowsPerImage?: number;
  /** the peers whose rows belong to the same batch (default: none) */
  collective?: Collective;
}

/** A training-mode BN + LeakyReLU layer: its epsilon, its activation (`alpha` null: none), its statistics' scope. */
export interface BatchNormSpec extends StatsScope {
  epsilon: number;
  alpha: number | null;
}

/** Column sums of a [M, C] matrix as a [C] vector, by the active backend's fastest means (./kernels.ts). */
export function columnSums(x: tf.Tensor2D, rowsPerImage = 1): tf.Tensor1D {
  return kernels().columnSums(x, rowsPerImage);
}

/** Sum a per-worker vector over all data-parallel workers (identity for one worker). */
export function reduceAcrossWorkers(t: tf.Tensor1D, collective: Collective): tf.Tensor1D {
  if (collective.size === 1) return t;
  return tf.tensor1d(collective.allReduceSum(t.dataSync() as Float32Array));
}

/**
 * Batch mean and (biased) variance per column. With several data-parallel
 * workers the statistics are those of the whole batch (synchronised BN), so
 * the result does not depend on how the batch is split.
 */
export function batchMoments(x: tf.Tensor2D, { rowsPerImage = 1, collective = SOLO }: StatsScope = {}): BatchStats {
  const m = x.shape[0] * collective.size;
  const mean = tf.div(reduceAcrossWorkers(columnSums(x, rowsPerImage), collective), m) as tf.Tensor1D;
  const centred = tf.sub(x, mean) as tf.Tensor2D;
  const variance = tf.div(reduceAcrossWorkers(columnSums(tf.square(centred) as tf.Tensor2D, rowsPerImage), collective), m) as tf.Tensor1D;
  return { mean, variance };
}

/**
 * LeakyReLU as alpha * y + (1 - alpha) * relu(y): relu, multiply and add are
 * XNNPACK kernels on wasm (the LeakyRelu and Maximum kernels are ~10x slower).
 */
export function leaky(y: tf.Tensor, alpha: number): tf.Tensor {
  return tf.add(tf.mul(y, alpha), tf.mul(tf.relu(y), 1 - alpha));
}

/** LeakyReLU slope at each pre-activation: 1 where y > 0, alpha elsewhere. */
function leakySlope(y: tf.Tensor, alpha: number): tf.Tensor {
  return tf.add(tf.mul(tf.step(y, 0), 1 - alpha), alpha);
}

export interface BatchNormLeakyResult {
  output: tf.Tensor2D;
  stats: BatchStats;
}

/**
 * out = leakyRelu(gamma * (x - mean) / sqrt(var + eps) + beta) with batch statistics.
 * `alpha` null means no activation. Returns the batch statistics (no gradient)
 * for the caller's moving averages. One replica on a backend with a fused
 * kernel (tfjs-node) runs that; otherwise the composed form below.
 */
export function batchNormLeakyTrain(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, spec: BatchNormSpec): BatchNormLeakyResult {
  const fused = kernels().batchNormLeakyTrain;
  if (fused && (spec.collective ?? SOLO).size === 1) return fused(x, gamma, beta, spec);
  return batchNormLeakyComposed(x, gamma, beta, spec);
}

/**
 * The composed form: broadcast multiply/add only (the wasm backend's BatchNorm
 * and LeakyRelu kernels are ~10x slower), the backward pass written out by hand,
 * statistics synchronised across data-parallel replicas.
 */
export function batchNormLeakyComposed(x: tf.Tensor2D, gamma: tf.Tensor1D, beta: tf.Tensor1D, spec: BatchNormSpec): BatchNormLeakyResult {
  const { epsilon, alpha, rowsPerImage = 1, collective = SOLO } = spec;
  const [mean, variance] = tf.tidy(() => {
    const m = batchMoments(x, { rowsPerImage, collective });
    return [m.mean, m.variance];
  });
  const stats: BatchStats = { mean, variance };
  const op = tf.customGrad((...args: Array<tf.Tensor | tf.GradSaveFunc>) => {
    const [xIn, gIn, bIn, save] = args as [tf.Tensor2D, tf.Tensor1D, tf.Tensor1D, tf.GradSaveFunc];
    const invStd = tf.rsqrt(tf.add(variance, epsilon));
    const scale = tf.mul(gIn, invStd);
    const shift = tf.sub(bIn, tf.mul(mean, scale));
    const y = tf.add(tf.mul(xIn, scale), shift);
    const value = alpha === null ? y : leaky(y, alpha);
    // the statistics are saved too: tensors captured by closure are disposed with the forward scope
    save([xIn, gIn, y, mean, variance]);
    return {
      value,
      gradFunc: (dOut: tf.Tensor | tf.Tensor[], saved: tf.Tensor[]) => {
        const [xs, g, ys, mu, sigma2] = saved as [tf.Tensor2D, tf.Tensor1D, tf.Tensor2D, tf.Tensor1D, tf.Tensor1D];
        const m = xs.shape[0] * collective.size;
        const inv = tf.rsqrt(tf.add(sigma2, epsilon));
        const dyOut = dOut as tf.Tensor2D;
        const dy = (alpha === null ? dyOut : tf.mul(dyOut, leakySlope(ys, alpha))) as tf.Tensor2D;
        const xhat = tf.mul(tf.sub(xs, mu), inv) as tf.Tensor2D;
        const channels = xs.shape[1];
        const sums = reduceAcrossWorkers(
          tf.concat([columnSums(dy, rowsPerImage), columnSums(tf.mul(dy, xhat) as tf.Tensor2D, rowsPerImage)]) as tf.Tensor1D,
          collective,
        );
        const dBeta = tf.slice(sums, [0], [channels]) as tf.Tensor1D;
        const dGamma = tf.slice(sums, [channels], [channels]) as tf.Tensor1D;
        const sc = tf.mul(g, inv);
        // dx = sc * dy - xhat * (sc * dGamma / m) - sc * dBeta / m
        const dx = tf.add(tf.sub(tf.mul(dy, sc), tf.mul(xhat, tf.mul(sc, tf.div(dGamma, m)))), tf.neg(tf.mul(sc, tf.div(dBeta, m))));
        return [dx, dGamma, dBeta];
      },
    };
  });
  const output = op(x, gamma, beta) as tf.Tensor2D;
  return { output, stats };
}

/** Inference mode: moving statistics, same activation. */
export function batchNormLeakyInfer(
  x: tf.Tensor2D,
  gamma: tf.Tensor1D,
  beta: tf.Tensor1D,
  movingMean: tf.Tensor1D,
  movingVariance: tf.Tensor1D,
  epsilon: number,
  alpha: number | null,
): tf.Tensor2D {
  const scale = tf.mul(gamma, tf.rsqrt(tf.add(movingVariance, epsilon)));
  const y = tf.add(tf.mul(x, scale), tf.sub(beta, tf.mul(movingMean, scale))) as tf.Tensor2D;
  return alpha === null ? y : (leaky(y, alpha) as tf.Tensor2D);
}
