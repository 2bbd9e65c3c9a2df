import { it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { buildHead, DEFAULT_PROBE, featureMoments, foldStandardization } from '../src/cpc/probe.js';
import { TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) await initBackend(TEST_BACKEND);
});

describeOnBackend('probe standardisation', () => {
  it('moments: per-feature mean and deviation, 1 for a constant feature', () => {
    const x = tf.tensor2d([
      [1, 5, 2],
      [3, 5, 2],
    ]);
    const { mean, std } = featureMoments(x);
    expect([...mean.dataSync()]).toEqual([2, 5, 2]);
    expect([...std.dataSync()]).toEqual([1, 1, 1]);
    tf.dispose([x, mean, std]);
  });

  for (const kind of ['linear', 'mlp'] as const) {
    it(`a ${kind} head with the standardisation folded in gives on raw features what it gave on standardised ones`, () => {
      const raw = tf.tidy(
        () => tf.add(tf.mul(tf.randomNormal([32, 6], 0, 1, 'float32', 3), [1, 10, 0.1, 3, 100, 1]), [0, 5, -2, 40, 1, 0]) as tf.Tensor2D,
      );
      const moments = featureMoments(raw);
      const standardised = tf.div(tf.sub(raw, moments.mean), moments.std) as tf.Tensor2D;
      const head = buildHead(kind, 6, 4, DEFAULT_PROBE, 9);
      const expected = head.predict(standardised) as tf.Tensor;
      const before = tf.memory().numTensors;
      foldStandardization(head, moments);
      expect(tf.memory().numTensors).toBe(before);
      const folded = head.predict(raw) as tf.Tensor;
      expect(tf.max(tf.abs(tf.sub(expected, folded))).dataSync()[0]).toBeLessThan(1e-4);
      tf.dispose([raw, moments.mean, moments.std, standardised, expected, folded]);
      head.dispose();
    });
  }
});
