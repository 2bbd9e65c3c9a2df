/**
 * One optimisation step and one evaluation pass of the CPC network on a batch.
 * Tensor discipline: everything created here is disposed before returning;
 * only variables and optimizer state persist.
 */
import * as tf from './tf.js';
import type { CpcNetwork } from './model.js';
import { futureClasses, type SequenceBatch } from './batches.js';
import type { BatchStats } from './ops/batchnorm.js';
import { cpcLoss, type CandidateSpec } from './losses.js';
import type { LossKind, Similarity } from './config.js';
import { SOLO, type Collective } from './parallel/collective.js';
import type { Replica } from './replica.js';

export interface StepMetrics {
  loss: number;
  accuracy: number;
  chance: number;
}

/** This worker's shard of the batch (the whole batch by default): an equal, contiguous range of sequences. */
export function batchTensors(batch: SequenceBatch, collective: Collective = SOLO): { context: tf.Tensor5D; future: tf.Tensor5D } {
  const { batchSize, terms, predictTerms, imageSize: s } = batch;
  if (batchSize % collective.size !== 0) throw new Error(`batch of ${batchSize} sequences cannot be split over ${collective.size} workers`);
  const b = batchSize / collective.size;
  const per = s * s * 3;
  const first = collective.rank * b;
  return {
    context: tf.tensor5d(batch.context.subarray(first * terms * per, (first + b) * terms * per), [b, terms, s, s, 3]),
    future: tf.tensor5d(batch.future.subarray(first * predictTerms * per, (first + b) * predictTerms * per), [b, predictTerms, s, s, 3]),
  };
}

/** Sum the encoder gradients (computed on each worker's shard) over all workers, in place of the local ones. */
function reduceEncoderGradients(grads: tf.NamedTensorMap, names: string[], collective: Collective): void {
  if (collective.size === 1) return;
  const sizes = names.map((n) => grads[n].size);
  const flat = new Float32Array(sizes.reduce((a, b) => a + b, 0));
  let offset = 0;
  names.forEach((n, i) => {
    flat.set(grads[n].dataSync() as Float32Array, offset);
    offset += sizes[i];
  });
  const summed = collective.allReduceSum(flat);
  offset = 0;
  names.forEach((n, i) => {
    const shape = grads[n].shape;
    grads[n].dispose();
    grads[n] = tf.tensor(summed.subarray(offset, offset + sizes[i]), shape);
    offset += sizes[i];
  });
}

export interface LossSpec extends CandidateSpec {
  loss: LossKind;
  logitScale: number;
  similarity: Similarity;
}

function lossOf(spec: LossSpec, batch: SequenceBatch, predictions: tf.Tensor3D, futureCodes: tf.Tensor3D) {
  const inputs = { predictions, futureCodes, labels: batch.labels, futureClasses: futureClasses(batch) };
  return cpcLoss(spec.loss, inputs, spec.logitScale, spec, spec.similarity);
}

/**
 * One Adam step on the batch. With several data-parallel workers each one
 * encodes its shard, the codes and BN statistics are shared, every worker
 * computes the same loss on the whole batch, and the encoder gradients are
 * summed: all replicas apply the same update.
 */
export function trainStep(replica: Replica, batch: SequenceBatch, spec: LossSpec): StepMetrics {
  const { network, optimizer, collective } = replica;
  const stats = new Map<string, BatchStats>();
  let accuracy: tf.Scalar | null = null;
  let chance = 0;
  const names = [...network.params.keys()];
  const trainable = [...network.params.values()];
  const { context, future } = batchTensors(batch, collective);
  try {
    const { value, grads: byVariableName } = tf.variableGrads(() => {
      const { predictions, futureCodes } = network.forward(context, future, { training: true, batchStats: stats, collective });
      const out = lossOf(spec, batch, predictions, futureCodes);
      accuracy = tf.keep(out.accuracy);
      chance = out.chance;
      for (const s of stats.values()) {
        tf.keep(s.mean);
        tf.keep(s.variance);
      }
      return out.loss;
    }, trainable);
    // key the gradients by our parameter names (tfjs names variables itself)
    const grads: tf.NamedTensorMap = {};
    trainable.forEach((v, i) => (grads[names[i]] = byVariableName[v.name]));
    reduceEncoderGradients(grads, network.encoderParamNames(), collective);
    optimizer.apply(network.params, new Map(names.map((n) => [n, grads[n]])));
    network.updateMovingStats(stats);
    const [loss, acc] = [value.dataSync()[0], (accuracy as unknown as tf.Scalar).dataSync()[0]];
    value.dispose();
    tf.dispose(grads);
    return { loss, accuracy: acc, chance };
  } finally {
    tf.dispose([context, future]);
    if (accuracy) (accuracy as tf.Scalar).dispose();
    for (const s of stats.values()) tf.dispose([s.mean, s.variance]);
  }
}

export function evalStep(network: CpcNetwork, batch: SequenceBatch, spec: LossSpec): StepMetrics {
  return tf.tidy(() => {
    const { context, future } = batchTensors(batch);
    const { predictions, futureCodes } = network.forward(context, future, { training: false });
    const out = lossOf(spec, batch, predictions, futureCodes);
    return { loss: out.loss.dataSync()[0], accuracy: out.accuracy.dataSync()[0], chance: out.chance };
  });
}
