/**
 * The neighbour index (src/cpc/neighbours.ts): built from real MNIST training
 * images through the same rendering as a predict request, kept in one file,
 * searched by cosine similarity; no tensors left behind.
 */
import { describe, it, expect } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { digitPixels } from '../src/cpc/images.js';
import { decodePng } from '../src/cpc/png.js';
import { toModelInput } from '../src/cpc/inference.js';
import { buildNeighbourIndex, nearestNeighbours, parseNeighbourIndex, serializeNeighbourIndex } from '../src/cpc/neighbours.js';

const data = loadDataset();
const model = { style: { imageSize: 28, color: 'grey' as const }, texture: proceduralTexture(1) };

/** a small fixed encoder: 28x28x3 -> 16 */
function encoder(): tf.LayersModel {
  const m = tf.sequential();
  m.add(tf.layers.flatten({ inputShape: [28, 28, 3] }));
  m.add(tf.layers.dense({ units: 16, kernelInitializer: tf.initializers.glorotUniform({ seed: 3 }) }));
  return m;
}

describe('neighbour index', () => {
  it('finds a training image itself first, with similarity 1, and keeps its label and pixels', () => {
    const enc = encoder();
    const before = tf.memory().numTensors;
    const index = buildNeighbourIndex(enc, model, data, 300, 7);
    expect(tf.memory().numTensors).toBe(before);
    expect(index).toMatchObject({ count: 300, dim: 16 });
    expect(index.classNames).toEqual(data.classNames);
    // every row is unit length
    for (let i = 0; i < index.count; i++) {
      const row = index.embeddings.subarray(i * 16, (i + 1) * 16);
      expect(Math.hypot(...row)).toBeCloseTo(1, 5);
    }
    // the 42nd entry's own image, embedded as predict would, finds itself
    const grey = index.images.subarray(42 * 784, 43 * 784);
    const pixels = new Float32Array(28 * 28 * 3);
    toModelInput({ rows: 28, cols: 28, channels: 1, data: Float32Array.from(grey) }, model, pixels, 0);
    const query = tf.tidy(() => Array.from((enc.predict(tf.tensor4d(pixels, [1, 28, 28, 3])) as tf.Tensor2D).dataSync()));
    const [first, ...rest] = nearestNeighbours(index, query, 5);
    expect(first.similarity).toBeCloseTo(1, 4);
    expect(first.label).toBe(index.labels[42]);
    expect(first.className).toBe(data.classNames[index.labels[42]]);
    expect(rest).toHaveLength(4);
    for (let i = 1; i < rest.length; i++) expect(rest[i].similarity).toBeLessThanOrEqual(rest[i - 1].similarity);
    const png = decodePng(Buffer.from(first.png, 'base64'));
    expect([png.width, png.height]).toEqual([28, 28]);
    expect(Array.from(png.rgb.filter((_, i) => i % 3 === 0))).toEqual(Array.from(grey));
    // the entries are training images of the data set, with their own labels
    const picked = Array.from({ length: data.splits.train.count }, (_, i) => i).find((i) =>
      digitPixels(data.splits.train, i).every((v, p) => v === grey[p]),
    );
    expect(picked).toBeDefined();
    expect(data.splits.train.labels[picked!]).toBe(index.labels[42]);
    enc.dispose();
  });

  it('is the same after a round trip through its file, and refuses bytes that are not one', () => {
    const enc = encoder();
    const index = buildNeighbourIndex(enc, model, data, 50, 1);
    const bytes = serializeNeighbourIndex(index);
    const back = parseNeighbourIndex(bytes);
    expect(back).toEqual(index);
    expect(() => parseNeighbourIndex(bytes.subarray(0, bytes.length - 1))).toThrow(/wrong length/);
    expect(() => parseNeighbourIndex(new Uint8Array([1, 2]))).toThrow(/too short/);
    expect(() => nearestNeighbours(index, [1, 2, 3], 3)).toThrow(/3 values; the index 16/);
    // the same seed picks the same images
    expect(buildNeighbourIndex(enc, model, data, 50, 1).labels).toEqual(index.labels);
    enc.dispose();
  });
});
