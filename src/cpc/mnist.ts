/**
 * MNIST (or any directory of IDX files with 28x28 uint8 images and labels 0-9)
 * split into train / valid / test, with a per-label index for sampling digits.
 */
import { existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readIdxFile, IdxFormatError } from './idx.js';

export const IMAGE_SIDE = 28;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export type SplitName = 'train' | 'valid' | 'test';

export interface DigitSplit {
  name: SplitName;
  /** count x 28 x 28 uint8, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
  /** indices of the images of each digit 0..9 */
  byLabel: Int32Array[];
}

export interface DigitDataset {
  dir: string;
  splits: Record<SplitName, DigitSplit>;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

/** The vendored copy under <package>/data/mnist, or CPC_DATA_DIR. */
export function defaultDataDir(): string {
  if (process.env.CPC_DATA_DIR) return resolve(process.env.CPC_DATA_DIR);
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', 'data', 'mnist');
}

function locate(dir: string, base: string): string {
  for (const name of [`${base}.gz`, base]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  throw new IdxFormatError(dir, `missing ${base}(.gz)`);
}

function readPair(dir: string, imagesBase: string, labelsBase: string): { images: Uint8Array; labels: Uint8Array } {
  const imagesPath = locate(dir, imagesBase);
  const labelsPath = locate(dir, labelsBase);
  const images = readIdxFile(imagesPath);
  const labels = readIdxFile(labelsPath);
  if (images.dims.length !== 3 || images.dims[1] !== IMAGE_SIDE || images.dims[2] !== IMAGE_SIDE) {
    throw new IdxFormatError(imagesPath, `expected N x 28 x 28 images, got [${images.dims.join(', ')}]`);
  }
  if (labels.dims.length !== 1) throw new IdxFormatError(labelsPath, `expected a vector of labels, got [${labels.dims.join(', ')}]`);
  if (labels.dims[0] !== images.dims[0]) {
    throw new IdxFormatError(labelsPath, `${labels.dims[0]} labels for ${images.dims[0]} images`);
  }
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) throw new IdxFormatError(labelsPath, `label ${labels.data[bad]} at index ${bad} is not a digit 0-9`);
  return { images: images.data, labels: labels.data };
}

export function makeSplit(name: SplitName, images: Uint8Array, labels: Uint8Array): DigitSplit {
  const count = labels.length;
  const lists: number[][] = Array.from({ length: 10 }, () => []);
  for (let i = 0; i < count; i++) lists[labels[i]].push(i);
  const missing = lists.findIndex((l) => l.length === 0);
  if (missing >= 0) throw new Error(`split ${name} has no image of digit ${missing}`);
  return { name, images, labels, count, byLabel: lists.map((l) => Int32Array.from(l)) };
}

/** Size of the validation split carved from the end of the training file: 10,000 for MNIST. */
export function validationSize(trainCount: number): number {
  return Math.min(10_000, Math.floor(trainCount / 6));
}

const cache = new Map<string, DigitDataset>();

export function loadDigits(dir: string = defaultDataDir()): DigitDataset {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  if (!existsSync(key)) throw new IdxFormatError(key, 'data directory does not exist');
  const train = readPair(key, FILES.trainImages, FILES.trainLabels);
  const test = readPair(key, FILES.testImages, FILES.testLabels);
  const n = train.labels.length;
  const nValid = validationSize(n);
  const cut = n - nValid;
  const dataset: DigitDataset = {
    dir: key,
    splits: {
      train: makeSplit('train', train.images.subarray(0, cut * IMAGE_PIXELS), train.labels.subarray(0, cut)),
      valid: makeSplit('valid', train.images.subarray(cut * IMAGE_PIXELS), train.labels.subarray(cut)),
      test: makeSplit('test', test.images, test.labels),
    },
  };
  cache.set(key, dataset);
  return dataset;
}
