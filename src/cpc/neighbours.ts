/**
 * The nearest training images of an embedding: an index of a frozen encoder's
 * embeddings of a seeded sample of its data set's training images, written by
 * the probe next to its heads (probe/neighbours.bin), searched by cosine
 * similarity. The sample is rendered exactly as a 28x28 grey image sent to
 * predict is (inference.ts, toModelInput), so a drawn digit and the training
 * images meet in one space. Each entry keeps its 28x28 grey source image, so
 * a client can show what was found.
 *
 * File: a uint32 (little-endian) header length, the header as JSON
 * ({version, count, dim, side, classNames}), then labels (int32 x count),
 * unit-length embeddings (float32 x count x dim), images (uint8 x count x side²).
 */
import * as tf from './tf.js';
import { Rng } from './rng.js';
import { IMAGE_PIXELS, IMAGE_SIDE, type ImageDataset } from './dataset.js';
import { digitPixels } from './images.js';
import { toModelInput, type ServableModel } from './inference.js';
import { encodePng } from './png.js';

export const NEIGHBOUR_INDEX_FILE = 'probe/neighbours.bin';
/** training images an index holds by default: ~1 MB with a 128-wide embedding */
export const DEFAULT_INDEX_SIZE = 1000;
/** the most neighbours one request may ask for */
export const MAX_NEIGHBOURS = 20;

export interface NeighbourIndex {
  count: number;
  dim: number;
  labels: Int32Array;
  /** unit-length rows */
  embeddings: Float32Array;
  /** 28x28 grey source images */
  images: Uint8Array;
  classNames: string[];
  /** each entry's image as a base64 PNG, made once when first found (a request only copies strings) */
  pngs?: Array<string | undefined>;
}

export interface Neighbour {
  /** the entry's training image as a 28x28 grey PNG, base64 */
  png: string;
  label: number;
  className: string;
  /** cosine similarity with the query, -1..1 */
  similarity: number;
}

function normalizeRows(x: Float32Array, dim: number): void {
  for (let row = 0; row < x.length; row += dim) {
    let norm = 0;
    for (let j = 0; j < dim; j++) norm += x[row + j] ** 2;
    const scale = norm > 0 ? 1 / Math.sqrt(norm) : 0;
    for (let j = 0; j < dim; j++) x[row + j] *= scale;
  }
}

/** Embed `count` training images drawn with `seed` (all of them when the split is smaller). */
export function buildNeighbourIndex(
  encoder: tf.LayersModel,
  model: Pick<ServableModel, 'style' | 'texture'>,
  data: ImageDataset,
  count = DEFAULT_INDEX_SIZE,
  seed = 0,
): NeighbourIndex {
  const split = data.splits.train;
  const picked = new Rng(seed + 303).permutation(split.count).slice(0, Math.min(count, split.count));
  const size = model.style.imageSize;
  const per = size * size * 3;
  const images = new Uint8Array(picked.length * IMAGE_PIXELS);
  const labels = Int32Array.from(picked, (i) => split.labels[i]);
  const parts: Float32Array[] = [];
  const chunk = 128;
  for (let start = 0; start < picked.length; start += chunk) {
    const n = Math.min(chunk, picked.length - start);
    const pixels = new Float32Array(n * per);
    for (let k = 0; k < n; k++) {
      const grey = digitPixels(split, picked[start + k]);
      images.set(grey, (start + k) * IMAGE_PIXELS);
      toModelInput({ rows: IMAGE_SIDE, cols: IMAGE_SIDE, channels: 1, data: Float32Array.from(grey) }, model, pixels, k * per);
    }
    let values = new Float32Array(0);
    tf.tidy(() => {
      values = Float32Array.from((encoder.predict(tf.tensor4d(pixels, [n, size, size, 3])) as tf.Tensor2D).dataSync());
    });
    parts.push(values);
  }
  const dim = encoder.outputs[0].shape[1] ?? 0;
  const embeddings = new Float32Array(picked.length * dim);
  let offset = 0;
  for (const p of parts) {
    embeddings.set(p, offset);
    offset += p.length;
  }
  normalizeRows(embeddings, dim);
  return { count: picked.length, dim, labels, embeddings, images, classNames: data.classNames };
}

export function serializeNeighbourIndex(index: NeighbourIndex): Uint8Array {
  const header = new TextEncoder().encode(
    JSON.stringify({ version: 1, count: index.count, dim: index.dim, side: IMAGE_SIDE, classNames: index.classNames }),
  );
  const total = 4 + header.length + index.count * 4 + index.count * index.dim * 4 + index.images.length;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  view.setUint32(0, header.length, true);
  out.set(header, 4);
  let at = 4 + header.length;
  for (let i = 0; i < index.count; i++, at += 4) view.setInt32(at, index.labels[i], true);
  for (let i = 0; i < index.embeddings.length; i++, at += 4) view.setFloat32(at, index.embeddings[i], true);
  out.set(index.images, at);
  return out;
}

export function parseNeighbourIndex(bytes: Uint8Array): NeighbourIndex {
  const fail = (why: string): never => {
    throw new Error(`not a neighbour index: ${why}`);
  };
  if (bytes.length < 4) fail('too short');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(0, true);
  if (4 + headerLength > bytes.length) fail('header cut off');
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(4, 4 + headerLength))) as {
    version?: number;
    count?: number;
    dim?: number;
    side?: number;
    classNames?: string[];
  };
  const { count = -1, dim = -1 } = header;
  if (header.version !== 1 || header.side !== IMAGE_SIDE || !Number.isInteger(count) || !Number.isInteger(dim) || count < 0 || dim < 0)
    fail('unknown header');
  let at = 4 + headerLength;
  if (bytes.length !== at + count * 4 + count * dim * 4 + count * IMAGE_PIXELS) fail('wrong length');
  const labels = new Int32Array(count);
  for (let i = 0; i < count; i++, at += 4) labels[i] = view.getInt32(at, true);
  const embeddings = new Float32Array(count * dim);
  for (let i = 0; i < embeddings.length; i++, at += 4) embeddings[i] = view.getFloat32(at, true);
  const images = bytes.slice(at, at + count * IMAGE_PIXELS);
  return { count, dim, labels, embeddings, images, classNames: (header.classNames ?? []).map(String) };
}

function entryPng(index: NeighbourIndex, i: number): string {
  const grey = index.images.subarray(i * IMAGE_PIXELS, (i + 1) * IMAGE_PIXELS);
  const rgb = new Uint8Array(IMAGE_PIXELS * 3);
  for (let p = 0; p < IMAGE_PIXELS; p++) rgb[p * 3] = rgb[p * 3 + 1] = rgb[p * 3 + 2] = grey[p];
  return encodePng(IMAGE_SIDE, IMAGE_SIDE, rgb).toString('base64');
}

/** the k entries most similar to `embedding` (cosine), most similar first */
export function nearestNeighbours(index: NeighbourIndex, embedding: ArrayLike<number>, k: number): Neighbour[] {
  if (embedding.length !== index.dim) throw new Error(`the embedding has ${embedding.length} values; the index ${index.dim}`);
  const query = Float32Array.from(embedding);
  normalizeRows(query, index.dim);
  const scored: Array<{ i: number; s: number }> = [];
  for (let i = 0; i < index.count; i++) {
    let s = 0;
    const row = i * index.dim;
    for (let j = 0; j < index.dim; j++) s += index.embeddings[row + j] * query[j];
    scored.push({ i, s });
  }
  scored.sort((a, b) => b.s - a.s);
  const pngs = (index.pngs ??= new Array<string | undefined>(index.count));
  return scored.slice(0, Math.max(0, k)).map(({ i, s }) => {
    const label = index.labels[i];
    return {
      png: (pngs[i] ??= entryPng(index, i)),
      label,
      className: index.classNames[label] ?? String(label),
      similarity: Math.round(s * 1e4) / 1e4,
    };
  });
}
