import { it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';
import { Adam } from '../src/cpc/adam.js';

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) await initBackend(TEST_BACKEND);
});

describeOnBackend('Adam', () => {
  it('matches a hand-computed first step and TensorFlow.js Adam over several steps', () => {
    const ours = new Adam({ learningRate: 0.1 });
    const p = tf.variable(tf.tensor1d([1, -2]));
    const params = new Map([['p', p]]);
    ours.apply(params, new Map([['p', tf.tensor1d([0.5, -0.25])]]));
    // first step: m_hat = g, v_hat = g^2, update = lr * g / (|g| + eps) = lr * sign(g)
    expect(Array.from(p.dataSync())).toEqual([expect.closeTo(0.9, 6), expect.closeTo(-1.9, 6)]);

    const reference = tf.train.adam(0.1, 0.9, 0.999, 1e-7);
    const q = tf.variable(tf.tensor1d([1, -2]));
    const r = tf.variable(tf.tensor1d([1, -2]));
    const mine = new Adam({ learningRate: 0.1 });
    for (let i = 0; i < 5; i++) {
      const g = tf.tensor1d([Math.sin(i), Math.cos(i)]);
      mine.apply(new Map([['q', q]]), new Map([['q', g]]));
      reference.applyGradients([{ name: r.name, tensor: g }]);
    }
    const a = q.dataSync();
    const b = r.dataSync();
    for (let i = 0; i < 2; i++) expect(a[i]).toBeCloseTo(b[i], 5);
  });

  it('restores its state exactly', () => {
    const run = (steps: number, restoreAt?: number) => {
      let opt = new Adam({ learningRate: 0.01 });
      const p = tf.variable(tf.tensor1d([0.3, 0.7]));
      for (let i = 0; i < steps; i++) {
        if (i === restoreAt) {
          const state = Object.fromEntries(Object.entries(opt.stateTensors()).map(([k, t]) => [k, t.clone()]));
          const step = opt.step;
          opt = new Adam({ learningRate: 0.01 });
          opt.restore(step, state);
        }
        opt.apply(new Map([['p', p]]), new Map([['p', tf.tensor1d([Math.sin(i * 3), 0.1 * i])]]));
      }
      return Array.from(p.dataSync());
    };
    expect(run(9, 5)).toEqual(run(9));
  });
});
