/**
 * A data set as the four MNIST-format IDX files (gzip or raw): train and test
 * images (N x 28 x 28, unsigned bytes) and labels (N, unsigned bytes or 16-bit
 * integers), with an optional dataset.json naming the classes. Without one,
 * the classes are the labels 0..max (MNIST: the digits).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { encodeIdx, idxIntegers, IdxFormatError, parseIdx, readIdxFile } from './idx.js';
import {
  assembleDataset,
  DATASET_META_FILE,
  DatasetError,
  IMAGE_SIDE,
  MAX_CLASSES,
  readDatasetMeta,
  type DatasetMeta,
  type ImageDataset,
  type ImageSet,
} from './dataset.js';

export const IDX_FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
} as const;

export type IdxFileRole = keyof typeof IDX_FILES;

function locate(dir: string, base: string): string | null {
  for (const name of [`${base}.gz`, base]) {
    const p = join(dir, name);
    if (existsSync(p)) return p;
  }
  return null;
}

/** true when `dir` has at least one of the four IDX files (then it is read as IDX, and all four must be there) */
export function hasIdxFiles(dir: string): boolean {
  return Object.values(IDX_FILES).some((base) => locate(dir, base) !== null);
}

/** images and labels of one split from their parsed IDX files, checked against each other */
export function idxImageSet(
  images: ReturnType<typeof parseIdx>,
  labels: ReturnType<typeof parseIdx>,
  names: { images: string; labels: string },
): ImageSet {
  if (images.type !== 'uint8' || images.dims.length !== 3 || images.dims[1] !== IMAGE_SIDE || images.dims[2] !== IMAGE_SIDE) {
    throw new IdxFormatError(names.images, `expected N x 28 x 28 unsigned-byte images, got [${images.dims.join(', ')}] ${images.type}`);
  }
  if (labels.dims.length !== 1) throw new IdxFormatError(names.labels, `expected a vector of labels, got [${labels.dims.join(', ')}]`);
  if (labels.dims[0] !== images.dims[0]) {
    throw new IdxFormatError(names.labels, `${labels.dims[0]} labels for ${images.dims[0]} images`);
  }
  if (images.dims[0] === 0) throw new IdxFormatError(names.images, 'holds no images');
  return { images: images.data, labels: idxIntegers(labels, names.labels) };
}

function readPair(dir: string, imagesBase: string, labelsBase: string): ImageSet {
  const imagesPath = locate(dir, imagesBase);
  const labelsPath = locate(dir, labelsBase);
  if (!imagesPath) throw new IdxFormatError(dir, `missing ${imagesBase}(.gz)`);
  if (!labelsPath) throw new IdxFormatError(dir, `missing ${labelsBase}(.gz)`);
  return idxImageSet(readIdxFile(imagesPath), readIdxFile(labelsPath), { images: imagesPath, labels: labelsPath });
}

/** the class names of a data set whose files name none: the labels 0..max */
export function numberedClasses(train: ImageSet, test: ImageSet): string[] {
  let max = 0;
  for (const set of [train, test]) for (const label of set.labels) max = Math.max(max, label);
  if (max >= MAX_CLASSES)
    throw new DatasetError(`label ${max} is beyond the ${MAX_CLASSES} classes a data set may have (labels 0-${MAX_CLASSES - 1})`);
  return Array.from({ length: max + 1 }, (_, i) => String(i));
}

export function readIdxDataset(dir: string): ImageDataset {
  const train = readPair(dir, IDX_FILES.trainImages, IDX_FILES.trainLabels);
  const test = readPair(dir, IDX_FILES.testImages, IDX_FILES.testLabels);
  const meta = readDatasetMeta(dir);
  const dataset = assembleDataset(dir, meta?.classNames ?? numberedClasses(train, test), train, test, meta?.validation);
  return meta?.sourceImage ? { ...dataset, sourceImage: meta.sourceImage } : dataset;
}

/** the files of a data set in this layout: gzipped IDX files and dataset.json (how an uploaded data set is stored) */
export function idxDatasetFiles(meta: DatasetMeta, train: ImageSet, test: ImageSet): Array<{ name: string; bytes: Uint8Array }> {
  const labels = (set: ImageSet) => (meta.classNames.length > 256 ? set.labels : Uint8Array.from(set.labels));
  const images = (set: ImageSet) => encodeIdx([set.labels.length, IMAGE_SIDE, IMAGE_SIDE], set.images);
  return [
    { name: `${IDX_FILES.trainImages}.gz`, bytes: gzipSync(images(train)) },
    { name: `${IDX_FILES.trainLabels}.gz`, bytes: gzipSync(encodeIdx([train.labels.length], labels(train))) },
    { name: `${IDX_FILES.testImages}.gz`, bytes: gzipSync(images(test)) },
    { name: `${IDX_FILES.testLabels}.gz`, bytes: gzipSync(encodeIdx([test.labels.length], labels(test))) },
    { name: DATASET_META_FILE, bytes: Buffer.from(JSON.stringify(meta, null, 1)) },
  ];
}

export function writeIdxDataset(dir: string, files: Array<{ name: string; bytes: Uint8Array }>): void {
  mkdirSync(dir, { recursive: true });
  for (const f of files) writeFileSync(join(dir, f.name), f.bytes);
}
