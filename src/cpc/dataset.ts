/**
 * A labelled image data set as the engine trains on it: 28x28 grey uint8
 * images with class labels 0..K-1 (MIN_CLASSES <= K <= MAX_CLASSES) and
 * class names, split into train / valid / test, with a per-class index for
 * sampling. A directory holds one in either layout:
 *   - the four MNIST-format IDX files (idx-dataset.ts), optionally with a
 *     dataset.json naming the classes (the vendored MNIST has none: its
 *     classes are the digits);
 *   - PNG files in one folder per class (png-folder.ts).
 * load-dataset.ts reads either.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatasetError } from './idx.js';

export { DatasetError } from './idx.js';

export const IMAGE_SIDE = 28;
export const IMAGE_PIXELS = IMAGE_SIDE * IMAGE_SIDE;
export const MIN_CLASSES = 2;
export const MAX_CLASSES = 1000;
export type SplitName = 'train' | 'valid' | 'test';

/** images (count x 28 x 28 uint8, row-major) with their class labels */
export interface ImageSet {
  images: Uint8Array;
  labels: Uint16Array;
}

export interface ImageSplit extends ImageSet {
  name: SplitName;
  count: number;
  /** indices of the images of each class */
  byLabel: Int32Array[];
}

/** the size of a data set's images before they became 28x28 (absent: they were 28x28) */
export interface SourceImage {
  width: number;
  height: number;
}

export interface ImageDataset {
  dir: string;
  classNames: string[];
  sourceImage?: SourceImage;
  splits: Record<SplitName, ImageSplit>;
}

/** what a directory's dataset.json says (written with the IDX files of an uploaded data set) */
export interface DatasetMeta {
  classNames: string[];
  /** images at the end of the training file that form the validation split (else validationSize) */
  validation?: number;
  /** the uploaded images' size, when not 28x28 (predictions take images of that size too) */
  sourceImage?: SourceImage;
}

export const DATASET_META_FILE = 'dataset.json';

/** what identifies a data set cheaply: its classes and each split's image count (a checkpoint records it) */
export interface DataShape {
  classNames: string[];
  images: Record<SplitName, number>;
}

export function dataShape(data: ImageDataset): DataShape {
  const { train, valid, test } = data.splits;
  return { classNames: data.classNames, images: { train: train.count, valid: valid.count, test: test.count } };
}

const shapeText = (shape: DataShape) =>
  `${shape.classNames.length} classes, ${shape.images.train}/${shape.images.valid}/${shape.images.test} train/valid/test images`;

/** DatasetError when `data` is not shaped as the data a run recorded */
export function checkSameData(data: ImageDataset, recorded: DataShape): void {
  const shape = dataShape(data);
  if (JSON.stringify(shape) !== JSON.stringify(recorded))
    throw new DatasetError(`${data.dir}: not the data set the run trained on (${shapeText(shape)}; the run's: ${shapeText(recorded)})`);
}

/** a class name as folders and clients may spell it: 1-100 printable characters, not only dots */
export function checkClassName(name: string, where: string): void {
  // eslint-disable-next-line no-control-regex
  if (!name || name.length > 100 || /[\u0000-\u001f\u007f/\\]/.test(name) || /^\.+$/.test(name))
    throw new DatasetError(`${where}: ${JSON.stringify(name)} is not a class name (1-100 printable characters, no slashes)`);
}

export function checkClassNames(classNames: string[], where: string): void {
  if (classNames.length < MIN_CLASSES || classNames.length > MAX_CLASSES)
    throw new DatasetError(
      `${where}: ${classNames.length} class${classNames.length === 1 ? '' : 'es'}; a data set has ${MIN_CLASSES} to ${MAX_CLASSES}`,
    );
  const seen = new Set<string>();
  for (const name of classNames) {
    checkClassName(name, where);
    if (seen.has(name)) throw new DatasetError(`${where}: the class name ${JSON.stringify(name)} appears twice`);
    seen.add(name);
  }
}

export function makeSplit(name: SplitName, set: ImageSet, classNames: string[]): ImageSplit {
  const count = set.labels.length;
  const lists: number[][] = Array.from({ length: classNames.length }, () => []);
  for (let i = 0; i < count; i++) {
    const label = set.labels[i];
    if (label >= classNames.length)
      throw new DatasetError(
        `image ${i} of the ${name} split has label ${label}, beyond the ${classNames.length} classes (0-${classNames.length - 1})`,
      );
    lists[label].push(i);
  }
  const missing = lists.findIndex((l) => l.length === 0);
  if (missing >= 0)
    throw new DatasetError(`the ${name} split has no image of class ${JSON.stringify(classNames[missing])} (label ${missing})`);
  return { name, images: set.images, labels: set.labels, count, byLabel: lists.map((l) => Int32Array.from(l)) };
}

/** Size of the validation split carved from the end of the training file: 10,000 for MNIST. */
export function validationSize(trainCount: number): number {
  return Math.min(10_000, Math.floor(trainCount / 6));
}

/** train (its last `validation` images become the validation split) and test, checked and indexed */
export function assembleDataset(dir: string, classNames: string[], train: ImageSet, test: ImageSet, validation?: number): ImageDataset {
  checkClassNames(classNames, dir);
  const n = train.labels.length;
  const nValid = validation ?? validationSize(n);
  if (!Number.isInteger(nValid) || nValid < 1 || nValid >= n)
    throw new DatasetError(`${dir}: ${n} training images cannot give a validation split of ${nValid}`);
  const cut = n - nValid;
  const part = (from: number, to: number): ImageSet => ({
    images: train.images.subarray(from * IMAGE_PIXELS, to * IMAGE_PIXELS),
    labels: train.labels.subarray(from, to),
  });
  return {
    dir,
    classNames,
    splits: {
      train: makeSplit('train', part(0, cut), classNames),
      valid: makeSplit('valid', part(cut, n), classNames),
      test: makeSplit('test', test, classNames),
    },
  };
}

export function readDatasetMeta(dir: string): DatasetMeta | null {
  const path = join(dir, DATASET_META_FILE);
  if (!existsSync(path)) return null;
  let meta: DatasetMeta;
  try {
    meta = JSON.parse(readFileSync(path, 'utf8')) as DatasetMeta;
  } catch (err) {
    throw new DatasetError(`${path}: not JSON (${(err as Error).message})`);
  }
  if (!Array.isArray(meta.classNames) || !meta.classNames.every((n) => typeof n === 'string'))
    throw new DatasetError(`${path}: classNames must be a list of strings`);
  return meta;
}
