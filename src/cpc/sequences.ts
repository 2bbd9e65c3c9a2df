/**
 * Digit-sequence tasks. A sequence is `terms` context digits followed by
 * `predictTerms` future digits; a positive sequence follows the task's rule,
 * a negative one has every future digit replaced by a random different digit.
 */
import type { Rng } from './rng.js';

export type SequenceTask = 'sorted' | 'same';

export interface SequenceSpec {
  task: SequenceTask;
  terms: number;
  predictTerms: number;
}

export interface LabelledSequences {
  /** batch x (terms + predictTerms) digits, row-major */
  digits: Int32Array;
  /** 1 for a positive sequence, 0 for a negative */
  labels: Float32Array;
}

function differentDigit(digit: number, rng: Rng): number {
  const d = rng.int(9);
  return d >= digit ? d + 1 : d;
}

export function positiveSequence(spec: SequenceSpec, rng: Rng): number[] {
  const length = spec.terms + spec.predictTerms;
  const start = rng.int(10);
  return Array.from({ length }, (_, i) => (spec.task === 'sorted' ? (start + i) % 10 : start));
}

/** `batchSize` sequences, round(batchSize * positiveFraction) positives, in shuffled order. */
export function sampleSequences(spec: SequenceSpec, batchSize: number, positiveFraction: number, rng: Rng): LabelledSequences {
  const length = spec.terms + spec.predictTerms;
  const positives = Math.round(batchSize * positiveFraction);
  const rows: Array<{ seq: number[]; label: number }> = [];
  for (let b = 0; b < batchSize; b++) {
    const seq = positiveSequence(spec, rng);
    const positive = b < positives;
    if (!positive) for (let i = spec.terms; i < length; i++) seq[i] = differentDigit(seq[i], rng);
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
