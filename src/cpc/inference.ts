/**
 * Inference with a saved encoder + probe head: digit probabilities, argmax
 * and the encoder embedding for a batch of images given as 28x28 grey
 * arrays, size x size x 3 RGB arrays, or PNG bytes.
 */
import * as tf from './tf.js';
import { Rng } from './rng.js';
import { renderDigit, type ImageStyle } from './images.js';
import { IMAGE_SIDE } from './mnist.js';
import type { Texture } from './texture.js';
import { decodePng, ImageInputError } from './png.js';

export { ImageInputError } from './png.js';

export interface ServableModel {
  encoder: tf.LayersModel;
  head: tf.LayersModel;
  style: ImageStyle;
  texture: Texture;
}

/**
 * One input image: a 28x28 grey array (values 0..255, or 0..1 if none exceeds 1),
 * a size x size x 3 RGB array (values 0..255), or PNG bytes (28x28 grey or size x size).
 */
export type ImageInput = number[][] | number[][][] | Uint8Array;

export interface Prediction {
  digit: number;
  probabilities: number[];
  embedding?: number[];
}

export const MAX_INSTANCES = 256;

function finite(v: unknown, where: string): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ImageInputError(`${where}: pixel values must be finite numbers`);
  return v;
}

function greyToModelInput(grey: Float32Array, style: ImageStyle, texture: Texture, out: Float32Array, offset: number): void {
  const bytes = Uint8Array.from(grey, (v) => Math.max(0, Math.min(255, Math.round(v))));
  // a fixed background stream: the same image always gets the same prediction
  renderDigit(bytes, style, texture, new Rng(0), out, offset);
}

/** Convert one input into the model's [size, size, 3] input in [-1, 1], written at out[offset]. */
export function toModelInput(input: ImageInput, style: ImageStyle, texture: Texture, out: Float32Array, offset: number, where = 'image'): void {
  const size = style.imageSize;
  if (input instanceof Uint8Array) {
    // the header decides before any pixel is decoded: only the two sizes this model takes
    const { width, height, rgb } = decodePng(input, Math.max(IMAGE_SIDE, size), [IMAGE_SIDE, size]);
    if (width === IMAGE_SIDE && height === IMAGE_SIDE && size !== IMAGE_SIDE) {
      const grey = new Float32Array(IMAGE_SIDE * IMAGE_SIDE);
      for (let i = 0; i < grey.length; i++) grey[i] = (rgb[i * 3] + rgb[i * 3 + 1] + rgb[i * 3 + 2]) / 3;
      greyToModelInput(grey, style, texture, out, offset);
      return;
    }
    if (width !== size || height !== size) throw new ImageInputError(`${where}: PNG is ${width}x${height}; expected 28x28 or ${size}x${size}`);
    for (let i = 0; i < rgb.length; i++) out[offset + i] = rgb[i] / 127.5 - 1;
    return;
  }
  if (!Array.isArray(input) || input.length === 0) throw new ImageInputError(`${where}: expected a 2-D or 3-D array of pixels`);
  const rows = input.length;
  const first = input[0];
  if (!Array.isArray(first)) throw new ImageInputError(`${where}: expected rows of pixels`);
  if (Array.isArray(first[0])) {
    const rgbRows = input as number[][][];
    if (rows !== size || rgbRows.some((r) => !Array.isArray(r) || r.length !== size || r.some((p) => !Array.isArray(p) || p.length !== 3))) {
      throw new ImageInputError(`${where}: an RGB image must be ${size}x${size}x3`);
    }
    let i = offset;
    for (const r of rgbRows) for (const p of r) for (const v of p) out[i++] = finite(v, where) / 127.5 - 1;
    return;
  }
  const greyRows = input as number[][];
  if (rows !== IMAGE_SIDE || greyRows.some((r) => !Array.isArray(r) || r.length !== IMAGE_SIDE)) {
    throw new ImageInputError(`${where}: a grey image must be 28x28 (got ${rows} rows)`);
  }
  const grey = new Float32Array(IMAGE_SIDE * IMAGE_SIDE);
  let max = 0;
  greyRows.forEach((r, y) => r.forEach((v, x) => {
    const f = finite(v, where);
    grey[y * IMAGE_SIDE + x] = f;
    max = Math.max(max, f);
  }));
  if (max <= 1) for (let i = 0; i < grey.length; i++) grey[i] *= 255;
  greyToModelInput(grey, style, texture, out, offset);
}

export function predictImages(model: ServableModel, inputs: ImageInput[], withEmbedding = true): Prediction[] {
  if (inputs.length === 0) throw new ImageInputError('no images given');
  if (inputs.length > MAX_INSTANCES) throw new ImageInputError(`at most ${MAX_INSTANCES} images per request, got ${inputs.length}`);
  const size = model.style.imageSize;
  const per = size * size * 3;
  const pixels = new Float32Array(inputs.length * per);
  inputs.forEach((input, i) => toModelInput(input, model.style, model.texture, pixels, i * per, `instances[${i}]`));
  let probs: number[][] = [];
  let embeddings: number[][] | null = null;
  tf.tidy(() => {
    const x = tf.tensor4d(pixels, [inputs.length, size, size, 3]);
    const embedding = model.encoder.predict(x) as tf.Tensor2D;
    probs = (model.head.predict(embedding) as tf.Tensor2D).arraySync();
    if (withEmbedding) embeddings = embedding.arraySync();
  });
  const emb = embeddings as number[][] | null;
  return probs.map((p: number[], i: number) => ({
    digit: p.indexOf(Math.max(...p)),
    probabilities: p,
    ...(emb ? { embedding: emb[i] } : {}),
  }));
}
