/** Seeded weight initialisers (Keras semantics), computed in plain JS from our own RNG. */
import * as tf from './tf.js';
import { Rng } from './rng.js';

export function glorotUniform(shape: number[], fanIn: number, fanOut: number, seed: number): tf.Tensor {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  const rng = new Rng(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(
    Float32Array.from({ length: size }, () => (rng.uniform() * 2 - 1) * limit),
    shape,
  );
}

function normal(rng: Rng): number {
  const u = 1 - rng.uniform();
  const v = rng.uniform();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/**
 * A [rows, cols] matrix with orthonormal rows (rows <= cols) or columns
 * (rows > cols): Gram-Schmidt on a Gaussian matrix, as Keras' Orthogonal.
 */
export function orthogonal(rows: number, cols: number, seed: number): tf.Tensor2D {
  const rng = new Rng(seed);
  const n = Math.min(rows, cols);
  const len = Math.max(rows, cols);
  const vectors: Float64Array[] = [];
  for (let i = 0; i < n; i++) {
    const v = Float64Array.from({ length: len }, () => normal(rng));
    for (const u of vectors) {
      let dot = 0;
      for (let j = 0; j < len; j++) dot += v[j] * u[j];
      for (let j = 0; j < len; j++) v[j] -= dot * u[j];
    }
    let norm = 0;
    for (let j = 0; j < len; j++) norm += v[j] * v[j];
    norm = Math.sqrt(norm);
    for (let j = 0; j < len; j++) v[j] /= norm;
    vectors.push(v);
  }
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < len; j++) {
      if (rows <= cols) out[i * cols + j] = vectors[i][j];
      else out[j * cols + i] = vectors[i][j];
    }
  }
  return tf.tensor2d(out, [rows, cols]);
}
