/**
 * Inference with a saved encoder + probe head: class probabilities, argmax
 * and the encoder embedding for a batch of images given as 28x28 grey
 * arrays, size x size x 3 RGB arrays, or PNG bytes.
 */
import * as tf from './tf.js';
import { Rng } from './rng.js';
import { renderDigit, type ImageStyle } from './images.js';
import { IMAGE_SIDE } from './dataset.js';
import type { Texture } from './texture.js';
import { decodePng, ImageInputError, pngHeader } from './png.js';
import { toGrey28 } from './png-folder.js';
import { nearestNeighbours, type Neighbour, type NeighbourIndex } from './neighbours.js';

export { ImageInputError } from './png.js';

export interface ServableModel {
  encoder: tf.LayersModel;
  head: tf.LayersModel;
  style: ImageStyle;
  texture: Texture;
  /** what the head's outputs mean, in order */
  classNames: string[];
  /** the size of the images of the data set it was probed on, when not 28x28: PNGs of that size are read as those were */
  sourceImage?: { width: number; height: number };
  /** embeddings of training images, for nearest neighbours (absent for probes made before there were indexes) */
  neighbours?: NeighbourIndex;
}

/** nearest neighbours were asked of a model that has no index */
export class NoNeighbourIndex extends Error {
  constructor() {
    super('this model version has no index of training images (its probe ran before there were indexes): probe its CPC job again');
    this.name = 'NoNeighbourIndex';
  }
}

/** pixels as one flat array, row-major (and channel-last for RGB): cheap to hand to another thread */
export interface PixelGrid {
  rows: number;
  cols: number;
  channels: 1 | 3;
  data: Float32Array;
}

/**
 * One input image: a 28x28 grey array (values 0..255, or 0..1 if none exceeds 1),
 * a size x size x 3 RGB array (values 0..255), the same as a PixelGrid, or PNG
 * bytes (28x28 grey or size x size).
 */
export type ImageInput = number[][] | number[][][] | PixelGrid | Uint8Array;

/** A 2-D (grey) or 3-D (RGB) pixel array as a PixelGrid; ragged or misshapen arrays are an ImageInputError. */
export function toPixelGrid(input: number[][] | number[][][], where = 'image'): PixelGrid {
  const rows = input.length;
  const cols = Array.isArray(input[0]) ? input[0].length : 0;
  const channels = Array.isArray(input[0]?.[0]) ? 3 : 1;
  if (!rows || !cols) throw new ImageInputError(`${where}: expected a 2-D or 3-D array of pixels`);
  const data = new Float32Array(rows * cols * channels);
  let i = 0;
  for (const row of input) {
    if (!Array.isArray(row) || row.length !== cols) throw new ImageInputError(`${where}: every row must have ${cols} pixels`);
    for (const p of row as Array<number | number[]>) {
      if (channels === 3) {
        if (!Array.isArray(p) || p.length !== 3) throw new ImageInputError(`${where}: an RGB pixel must have 3 values`);
        data[i++] = finite(p[0], where);
        data[i++] = finite(p[1], where);
        data[i++] = finite(p[2], where);
      } else {
        if (Array.isArray(p)) throw new ImageInputError(`${where}: mixed grey and RGB pixels`);
        data[i++] = finite(p, where);
      }
    }
  }
  return { rows, cols, channels, data };
}

function isPixelGrid(input: ImageInput): input is PixelGrid {
  return (
    !Array.isArray(input) &&
    !(input instanceof Uint8Array) &&
    typeof input === 'object' &&
    input !== null &&
    (input as PixelGrid).data instanceof Float32Array
  );
}

export interface Prediction {
  /** the most probable class: its index and its name */
  label: number;
  className: string;
  probabilities: number[];
  embedding?: number[];
  /** the most similar training images, most similar first (when asked for) */
  neighbours?: Neighbour[];
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
export function toModelInput(
  input: ImageInput,
  model: Pick<ServableModel, 'style' | 'texture' | 'sourceImage'>,
  out: Float32Array,
  offset: number,
  where = 'image',
): void {
  const { style, texture, sourceImage: source } = model;
  const size = style.imageSize;
  if (input instanceof Uint8Array) {
    // the header decides before any pixel is decoded: only the sizes this model takes
    const header = pngHeader(input);
    if (source && header.width === source.width && header.height === source.height) {
      // an image like those of the model's data set: read the way they were (luminance, area-resampled to 28x28)
      const { width, height, rgb } = decodePng(input, Math.max(source.width, source.height));
      greyToModelInput(Float32Array.from(toGrey28(width, height, rgb)), style, texture, out, offset);
      return;
    }
    if (![IMAGE_SIDE, size].includes(header.width) || ![IMAGE_SIDE, size].includes(header.height)) {
      const sides = [...new Set([IMAGE_SIDE, size])].map((n) => `${n}x${n}`);
      if (source) sides.push(`${source.width}x${source.height} (the data set's images)`);
      throw new ImageInputError(`${where}: PNG is ${header.width}x${header.height}; expected ${sides.join(' or ')}`);
    }
    const { width, height, rgb } = decodePng(input, Math.max(IMAGE_SIDE, size), [IMAGE_SIDE, size]);
    if (width === IMAGE_SIDE && height === IMAGE_SIDE && size !== IMAGE_SIDE) {
      const grey = new Float32Array(IMAGE_SIDE * IMAGE_SIDE);
      for (let i = 0; i < grey.length; i++) grey[i] = (rgb[i * 3] + rgb[i * 3 + 1] + rgb[i * 3 + 2]) / 3;
      greyToModelInput(grey, style, texture, out, offset);
      return;
    }
    if (width !== size || height !== size)
      throw new ImageInputError(`${where}: PNG is ${width}x${height}; expected 28x28 or ${size}x${size}`);
    for (let i = 0; i < rgb.length; i++) out[offset + i] = rgb[i] / 127.5 - 1;
    return;
  }
  const grid = isPixelGrid(input) ? input : Array.isArray(input) ? toPixelGrid(input, where) : null;
  if (!grid) throw new ImageInputError(`${where}: expected a 2-D or 3-D array of pixels`);
  if (grid.channels === 3) {
    if (grid.rows !== size || grid.cols !== size) throw new ImageInputError(`${where}: an RGB image must be ${size}x${size}x3`);
    for (let i = 0; i < grid.data.length; i++) out[offset + i] = grid.data[i] / 127.5 - 1;
    return;
  }
  if (grid.rows !== IMAGE_SIDE || grid.cols !== IMAGE_SIDE) {
    throw new ImageInputError(`${where}: a grey image must be 28x28 (got ${grid.rows}x${grid.cols})`);
  }
  const grey = Float32Array.from(grid.data);
  let max = 0;
  for (const v of grey) max = Math.max(max, v);
  if (max <= 1) for (let i = 0; i < grey.length; i++) grey[i] *= 255;
  greyToModelInput(grey, style, texture, out, offset);
}

/** Classify images; with their embeddings, and (`neighbours` > 0) that many of the most similar training images. */
export function predictImages(model: ServableModel, inputs: ImageInput[], withEmbedding = true, neighbours = 0): Prediction[] {
  if (neighbours > 0 && !model.neighbours) throw new NoNeighbourIndex();
  if (inputs.length === 0) throw new ImageInputError('no images given');
  if (inputs.length > MAX_INSTANCES) throw new ImageInputError(`at most ${MAX_INSTANCES} images per request, got ${inputs.length}`);
  const size = model.style.imageSize;
  const per = size * size * 3;
  const pixels = new Float32Array(inputs.length * per);
  inputs.forEach((input, i) => toModelInput(input, model, pixels, i * per, `instances[${i}]`));
  let probs: number[][] = [];
  let embeddings: number[][] | null = null;
  tf.tidy(() => {
    const x = tf.tensor4d(pixels, [inputs.length, size, size, 3]);
    const embedding = model.encoder.predict(x) as tf.Tensor2D;
    probs = (model.head.predict(embedding) as tf.Tensor2D).arraySync();
    if (withEmbedding || neighbours > 0) embeddings = embedding.arraySync();
  });
  const emb = embeddings as number[][] | null;
  return probs.map((p: number[], i: number) => ({
    label: p.indexOf(Math.max(...p)),
    className: model.classNames[p.indexOf(Math.max(...p))],
    probabilities: p,
    ...(emb && withEmbedding ? { embedding: emb[i] } : {}),
    ...(emb && neighbours > 0 ? { neighbours: nearestNeighbours(model.neighbours!, emb[i], neighbours) } : {}),
  }));
}
