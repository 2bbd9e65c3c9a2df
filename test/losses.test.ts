import { describe, it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';
import { binaryLoss, candidateMask, cpcLoss, infoNceLoss, positiveIndices, type CandidateSpec } from '../src/cpc/losses.js';

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) await initBackend(TEST_BACKEND);
});

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

describeOnBackend('binary loss (seed)', () => {
  it('matches a hand computation', () => {
    // 2 sequences, 2 future steps, code size 2
    const pred = tf.tensor3d([
      [
        [1, 2],
        [0, 1],
      ],
      [
        [1, 0],
        [2, 2],
      ],
    ]);
    const code = tf.tensor3d([
      [
        [1, 1],
        [2, 0],
      ],
      [
        [-1, 1],
        [-1, -1],
      ],
    ]);
    // logits = mean over steps and dims of pred*code: seq0: (1+2+0+0)/4 = 0.75; seq1: (-1+0-2-2)/4 = -1.25
    const labels = new Float32Array([1, 1]);
    const out = binaryLoss(pred, code, labels, 2);
    const expected = -(Math.log(sigmoid(1.5)) + Math.log(sigmoid(-2.5))) / 2;
    expect(out.loss.dataSync()[0]).toBeCloseTo(expected, 5);
    expect(out.accuracy.dataSync()[0]).toBe(0.5);
    expect(out.chance).toBe(1);
  });

  it('reports the majority-class chance level', () => {
    const z = tf.zeros([4, 1, 2]) as tf.Tensor3D;
    expect(binaryLoss(z, z, new Float32Array([1, 0, 0, 0])).chance).toBe(0.75);
  });
});

const SEED_CANDIDATES: CandidateSpec = { negatives: 'step', sameClassNegatives: 'keep' };
const ones = (n: number) => new Float32Array(n).fill(1);
const distinct = (n: number) => Int32Array.from({ length: n }, (_, i) => i);

describeOnBackend('InfoNCE loss (paper)', () => {
  it('matches a hand computation with in-batch negatives', () => {
    // 2 positives, 1 future step, code size 1
    const pred = tf.tensor3d([[[1]], [[2]]]);
    const code = tf.tensor3d([[[3]], [[-1]]]);
    // scores row i = pred_i * code_j: row0 = [3, -1], row1 = [6, -2]
    const l0 = -Math.log(Math.exp(3) / (Math.exp(3) + Math.exp(-1)));
    const l1 = -Math.log(Math.exp(-2) / (Math.exp(6) + Math.exp(-2)));
    const out = infoNceLoss(pred, code, ones(2), distinct(2), 1, SEED_CANDIDATES);
    expect(out.loss.dataSync()[0]).toBeCloseTo((l0 + l1) / 2, 4);
    expect(out.accuracy.dataSync()[0]).toBe(0.5);
    expect(out.chance).toBe(0.5);
  });

  it('averages over future steps', () => {
    const pred = tf.tensor3d([
      [[1], [0]],
      [[0], [1]],
    ]);
    const code = tf.tensor3d([
      [[1], [0]],
      [[0], [1]],
    ]);
    // step 0: scores [[1,0],[0,0]]; step 1: [[0,0],[0,1]]
    const a = Math.log(1 + Math.exp(-1));
    const b = Math.log(2);
    expect(infoNceLoss(pred, code, ones(2), distinct(4), 1, SEED_CANDIDATES).loss.dataSync()[0]).toBeCloseTo((a + b + b + a) / 4, 5);
  });
});

describe('InfoNCE candidates', () => {
  // 3 sequences (the middle one negative), 2 future steps; future classes row-major
  const labels = new Float32Array([1, 0, 1]);
  const classes = Int32Array.from([0, 1, 5, 6, 0, 1]);
  const open = (mask: Float32Array, row: number, width: number) =>
    Array.from(mask.subarray(row * width, (row + 1) * width), (v) => (v === 0 ? 1 : 0));

  it('selects the positive sequences as queries', () => {
    expect(positiveIndices(new Float32Array([0, 1, 1, 0]))).toEqual([1, 2]);
  });

  it("'step' allows the positives' futures at the same step", () => {
    const { mask, targets, chance } = candidateMask([0, 2], labels, classes, 2, SEED_CANDIDATES);
    expect([...targets]).toEqual([0, 1, 4, 5]);
    expect(open(mask, 0, 6)).toEqual([1, 0, 0, 0, 1, 0]);
    expect(open(mask, 3, 6)).toEqual([0, 1, 0, 0, 0, 1]);
    expect(chance).toBe(0.5);
  });

  it("'batch' allows every future image, and 'mask' drops the target's class", () => {
    const all = candidateMask([0, 2], labels, classes, 2, { negatives: 'batch', sameClassNegatives: 'keep' });
    expect(open(all.mask, 0, 6)).toEqual([1, 1, 1, 1, 1, 1]);
    expect(all.chance).toBeCloseTo(1 / 6);
    const masked = candidateMask([0, 2], labels, classes, 2, { negatives: 'batch', sameClassNegatives: 'mask' });
    // query (seq 0, step 0) has class 0: seq 2's step 0 (class 0) is a collision
    expect(open(masked.mask, 0, 6)).toEqual([1, 1, 1, 1, 0, 1]);
    expect(open(masked.mask, 2, 6)).toEqual([0, 1, 1, 1, 1, 1]);
    expect(masked.chance).toBeCloseTo(1 / 5);
    const stepMasked = candidateMask([0, 2], labels, classes, 2, { negatives: 'step', sameClassNegatives: 'mask' });
    expect(open(stepMasked.mask, 0, 6)).toEqual([1, 0, 0, 0, 0, 0]);
    expect(stepMasked.chance).toBe(1);
  });
});

describeOnBackend('InfoNCE loss over the batch', () => {
  it('matches a hand computation with a masked collision', () => {
    // 2 positive sequences, 1 step, code size 1; both futures of class 3: each is the other's collision
    const pred = tf.tensor3d([[[1]], [[2]], [[1]]]);
    const code = tf.tensor3d([[[3]], [[-1]], [[0.5]]]);
    const labels = new Float32Array([1, 1, 0]);
    const classes = Int32Array.from([3, 3, 4]);
    const out = infoNceLoss(pred, code, labels, classes, 1, { negatives: 'batch', sameClassNegatives: 'mask' });
    // row 0: candidates {0: 3, 2: 0.5}; row 1: candidates {1: -2, 2: 1}
    const l0 = -Math.log(Math.exp(3) / (Math.exp(3) + Math.exp(0.5)));
    const l1 = -Math.log(Math.exp(-2) / (Math.exp(-2) + Math.exp(1)));
    expect(out.loss.dataSync()[0]).toBeCloseTo((l0 + l1) / 2, 4);
    expect(out.accuracy.dataSync()[0]).toBe(0.5);
    expect(out.chance).toBe(0.5);
  });

  it("scores by the cosine of the angle with cosine similarity: a code's length no longer counts", () => {
    // 2 positive sequences, 1 step, code size 2, classes apart; the logit scale is an inverse temperature
    const pred = tf.tensor3d([[[3, 4]], [[0, 2]]]);
    const code = tf.tensor3d([[[1, 0]], [[0, 10]]]);
    const longer = tf.mul(code, tf.tensor3d([[[7]], [[0.1]]])) as tf.Tensor3D;
    const inputs = { predictions: pred, futureCodes: code, labels: new Float32Array([1, 1]), futureClasses: Int32Array.from([1, 2]) };
    const spec: CandidateSpec = { negatives: 'batch', sameClassNegatives: 'mask' };
    const out = cpcLoss('infonce', inputs, 10, spec, 'cosine');
    // row 0: cos 0.6 (target), 0.8; row 1: cos 0 , 1 (target)
    const l0 = -Math.log(Math.exp(6) / (Math.exp(6) + Math.exp(8)));
    const l1 = -Math.log(Math.exp(10) / (Math.exp(0) + Math.exp(10)));
    expect(out.loss.dataSync()[0]).toBeCloseTo((l0 + l1) / 2, 4);
    expect(out.accuracy.dataSync()[0]).toBe(0.5);
    const scaled = cpcLoss('infonce', { ...inputs, futureCodes: longer }, 10, spec, 'cosine');
    expect(scaled.loss.dataSync()[0]).toBeCloseTo(out.loss.dataSync()[0], 4);
    // the dot product does see the lengths
    expect(cpcLoss('infonce', { ...inputs, futureCodes: longer }, 10, spec, 'dot').accuracy.dataSync()[0]).toBe(1);
    // a zero vector stays finite
    const zero = cpcLoss('infonce', { ...inputs, predictions: tf.zeros([2, 1, 2]) as tf.Tensor3D }, 10, spec, 'cosine');
    expect(Number.isFinite(zero.loss.dataSync()[0])).toBe(true);
  });
});
