/**
 * One optimisation step and one evaluation pass of the CPC network on a batch.
 * Tensor discipline: everything created here is disposed before returning;
 * only variables and optimizer state persist.
 */
import * as tf from './tf.js';
import type { CpcNetwork } from './model.js';
import type { SequenceBatch } from './batches.js';
import type { BatchStats } from './ops/batchnorm.js';
import { cpcLoss } from './losses.js';
import type { LossKind } from './config.js';

export interface StepMetrics {
  loss: number;
  accuracy: number;
  chance: number;
}

function batchTensors(batch: SequenceBatch): { context: tf.Tensor5D; future: tf.Tensor5D } {
  const { batchSize: b, terms, predictTerms, imageSize: s } = batch;
  return {
    context: tf.tensor5d(batch.context, [b, terms, s, s, 3]),
    future: tf.tensor5d(batch.future, [b, predictTerms, s, s, 3]),
  };
}

export interface LossSpec {
  loss: LossKind;
  logitScale: number;
}

export function trainStep(network: CpcNetwork, optimizer: tf.Optimizer, batch: SequenceBatch, spec: LossSpec): StepMetrics {
  const stats = new Map<string, BatchStats>();
  let accuracy: tf.Scalar | null = null;
  let chance = 0;
  const trainable = [...network.params.values()];
  const { context, future } = batchTensors(batch);
  try {
    const { value, grads } = tf.variableGrads(() => {
      const { predictions, futureCodes } = network.forward(context, future, true, stats);
      const out = cpcLoss(spec.loss, predictions, futureCodes, batch.labels, spec.logitScale);
      accuracy = tf.keep(out.accuracy);
      chance = out.chance;
      for (const s of stats.values()) {
        tf.keep(s.mean);
        tf.keep(s.variance);
      }
      return out.loss;
    }, trainable);
    optimizer.applyGradients(grads);
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
    const { predictions, futureCodes } = network.forward(context, future, false);
    const out = cpcLoss(spec.loss, predictions, futureCodes, batch.labels, spec.logitScale);
    return { loss: out.loss.dataSync()[0], accuracy: out.accuracy.dataSync()[0], chance: out.chance };
  });
}
