/**
 * Class-sequence tasks over a data set's K classes (the digits, for MNIST). A
 * sequence is `terms` context classes followed by `predictTerms` future ones;
 * a positive sequence follows the task's rule, a negative one has every future
 * class replaced by a random different class. `sorted`: consecutive class
 * indices from a random start, wrapping after K - 1; `same`: one class
 * throughout.
 */
import type { Rng } from './rng.js';

export type SequenceTask = 'sorted' | 'same';

export interface SequenceSpec {
  task: SequenceTask;
  terms: number;
  predictTerms: number;
}

export interface LabelledSequences {
  /** batch x (terms + predictTerms) class indices, row-major */
  digits: Int32Array;
  /** 1 for a positive sequence, 0 for a negative */
  labels: Float32Array;
}

function differentClass(label: number, classes: number, rng: Rng): number {
  const d = rng.int(classes - 1);
  return d >= label ? d + 1 : d;
}

export function positiveSequence(spec: SequenceSpec, rng: Rng, classes: number): number[] {
  const length = spec.terms + spec.predictTerms;
  const start = rng.int(classes);
  return Array.from({ length }, (_, i) => (spec.task === 'sorted' ? (start + i) % classes : start));
}

/** `batchSize` sequences over `classes` classes, round(batchSize * positiveFraction) positives, in shuffled order. */
export function sampleSequences(
  spec: SequenceSpec,
  batchSize: number,
  positiveFraction: number,
  rng: Rng,
  classes: number,
): LabelledSequences {
  const length = spec.terms + spec.predictTerms;
  const positives = Math.round(batchSize * positiveFraction);
  const rows: Array<{ seq: number[]; label: number }> = [];
  for (let b = 0; b < batchSize; b++) {
    const seq = positiveSequence(spec, rng, classes);
    const positive = b < positives;
    if (!positive) for (let i = spec.terms; i < length; i++) seq[i] = differentClass(seq[i], classes, rng);
    rows.push({ seq, label: positive ? 1 : 0 });
  }
  const order = rng.permutation(batchSize);
  const digits = new Int32Array(batchSize * length);
  const labels = new Float32Array(batchSize);
  order.forEach((src, dst) => {
    digits.set(rows[src].seq, dst * length);
    labels[dst] = rows[src].label;
  });
  return { digits, labels };
}
