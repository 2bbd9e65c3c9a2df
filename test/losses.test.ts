import { it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';
import { binaryLoss, infoNceLoss, positiveIndices } from '../src/cpc/losses.js';

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

describeOnBackend('InfoNCE loss (paper)', () => {
  it('matches a hand computation with in-batch negatives', () => {
    // 2 positives, 1 future step, code size 1
    const pred = tf.tensor3d([[[1]], [[2]]]);
    const code = tf.tensor3d([[[3]], [[-1]]]);
    // scores row i = pred_i * code_j: row0 = [3, -1], row1 = [6, -2]
    const l0 = -Math.log(Math.exp(3) / (Math.exp(3) + Math.exp(-1)));
    const l1 = -Math.log(Math.exp(-2) / (Math.exp(6) + Math.exp(-2)));
    const out = infoNceLoss(pred, code);
    expect(out.loss.dataSync()[0]).toBeCloseTo((l0 + l1) / 2, 4);
    expect(out.accuracy.dataSync()[0]).toBe(0.5);
    expect(out.chance).toBe(0.5);
  });

  it('averages over future steps and selects positives', () => {
    expect(positiveIndices(new Float32Array([0, 1, 1, 0]))).toEqual([1, 2]);
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
    expect(infoNceLoss(pred, code).loss.dataSync()[0]).toBeCloseTo((a + b + b + a) / 4, 5);
  });
});
