/**
 * A data set as PNG files in one folder per class: `<class>/<anything>.png`,
 * or `train/<class>/...` and `test/<class>/...` for a given split. One
 * enclosing folder (as archives often have) is looked through. Without
 * train/ and test/, the split is drawn per class with a seed (recorded by the
 * caller): a seventh of each class for test, a sixth of the rest for
 * validation (MNIST's proportions), at least one image each.
 *
 * Every image must have the same size (at most maxSide a side); grey, grey +
 * alpha, palette, RGB and RGBA are read, alpha composited on black. The
 * engine trains on 28x28 grey: each image becomes its luminance (Rec. 601),
 * area-resampled to 28x28. Ink is what is bright, as in MNIST.
 *
 * Hidden files and folders (a leading dot) and macOS's __MACOSX folder are
 * skipped; anything else that is not a folder of class folders of .png files
 * (a stray file, a link, a nested folder) is a DatasetError naming it.
 */
import { lstatSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodePng, pngHeader } from './png.js';
import { Rng } from './rng.js';
import {
  assembleDataset,
  checkClassNames,
  DatasetError,
  IMAGE_PIXELS,
  IMAGE_SIDE,
  MAX_CLASSES,
  type DatasetMeta,
  type ImageDataset,
  type ImageSet,
} from './dataset.js';

export interface PngFolderOptions {
  /** seed of the per-class split when the folders give none */
  splitSeed?: number;
  maxImages?: number;
  maxSide?: number;
}

export const PNG_FOLDER_DEFAULTS = { splitSeed: 0, maxImages: 100_000, maxSide: 256 };

export interface PngFolderSource {
  width: number;
  height: number;
  /** the most channels an image had: 1 grey, 2 grey + alpha, 3 RGB or palette, 4 RGBA */
  channels: number;
  /** 'folders': train/ and test/ given; 'seeded': split per class with splitSeed */
  split: 'folders' | 'seeded';
  splitSeed?: number;
}

export interface PngFolderData {
  dataset: ImageDataset;
  meta: DatasetMeta;
  train: ImageSet;
  test: ImageSet;
  source: PngFolderSource;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 3, 4: 2, 6: 4 };

const skipped = (name: string) => name.startsWith('.') || name === '__MACOSX';

interface Entry {
  name: string;
  /** path relative to the data set's folder (for messages: never the server's own paths) */
  rel: string;
  abs: string;
  kind: 'dir' | 'file' | 'other';
}

function list(abs: string, rel: string): Entry[] {
  return readdirSync(abs)
    .filter((name) => !skipped(name))
    .sort(compareNames)
    .map((name) => {
      const stat = lstatSync(join(abs, name));
      const kind = stat.isDirectory() ? 'dir' : stat.isFile() ? 'file' : 'other';
      return { name, rel: rel ? `${rel}/${name}` : name, abs: join(abs, name), kind };
    });
}

/** names in natural order ("2" before "10"), then by code point: the same order on every machine */
export function compareNames(a: string, b: string): number {
  const pa = a.split(/(\d+)/);
  const pb = b.split(/(\d+)/);
  for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
    if (pa[i] === pb[i]) continue;
    const numeric = i % 2 === 1;
    if (numeric && pa[i].length !== pb[i].length) return Number(pa[i]) - Number(pb[i]) || pa[i].length - pb[i].length;
    return pa[i] < pb[i] ? -1 : 1;
  }
  return pa.length - pb.length;
}

/** class folder -> its PNG files */
function classFolders(abs: string, rel: string): Map<string, Entry[]> {
  const classes = new Map<string, Entry[]>();
  for (const entry of list(abs, rel)) {
    if (entry.kind !== 'dir')
      throw new DatasetError(
        `${entry.rel}: expected only class folders here, found a ${entry.kind === 'file' ? 'file' : 'link or special file'}`,
      );
    const files = list(entry.abs, entry.rel);
    for (const f of files) {
      if (f.kind !== 'file')
        throw new DatasetError(
          `${f.rel}: a class folder holds only .png files, found a ${f.kind === 'dir' ? 'folder' : 'link or special file'}`,
        );
      if (!/\.png$/i.test(f.name)) throw new DatasetError(`${f.rel}: not a .png file`);
    }
    if (files.length === 0) throw new DatasetError(`${entry.rel}: the class ${JSON.stringify(entry.name)} has no images`);
    classes.set(entry.name, files);
  }
  return classes;
}

/** Rec. 601 luminance of RGB bytes, area-resampled from width x height to 28x28 */
export function toGrey28(width: number, height: number, rgb: Uint8Array): Uint8Array {
  const lum = new Float32Array(width * height);
  for (let i = 0; i < lum.length; i++) lum[i] = 0.299 * rgb[i * 3] + 0.587 * rgb[i * 3 + 1] + 0.114 * rgb[i * 3 + 2];
  const out = new Uint8Array(IMAGE_PIXELS);
  // each output pixel averages the source area it covers (fractional edges weighted): a box filter
  const spans = (inSize: number) =>
    Array.from({ length: IMAGE_SIDE }, (_, o) => {
      const from = (o * inSize) / IMAGE_SIDE;
      const to = ((o + 1) * inSize) / IMAGE_SIDE;
      const parts: Array<[number, number]> = [];
      for (let i = Math.floor(from); i < Math.min(inSize, Math.ceil(to)); i++) parts.push([i, Math.min(to, i + 1) - Math.max(from, i)]);
      return parts;
    });
  const xs = spans(width);
  const ys = spans(height);
  for (let oy = 0; oy < IMAGE_SIDE; oy++) {
    for (let ox = 0; ox < IMAGE_SIDE; ox++) {
      let sum = 0;
      let weight = 0;
      for (const [y, wy] of ys[oy]) {
        for (const [x, wx] of xs[ox]) {
          sum += lum[y * width + x] * wy * wx;
          weight += wy * wx;
        }
      }
      out[oy * IMAGE_SIDE + ox] = Math.round(sum / weight);
    }
  }
  return out;
}

class ImageReader {
  private first: { rel: string; width: number; height: number } | null = null;
  channels = 0;

  constructor(private readonly maxSide: number) {}

  read(file: Entry): Uint8Array {
    let bytes: Uint8Array;
    try {
      bytes = readFileSync(file.abs);
    } catch (err) {
      throw new DatasetError(`${file.rel}: cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    let decoded: ReturnType<typeof decodePng>;
    try {
      const header = pngHeader(bytes);
      if (this.first && (header.width !== this.first.width || header.height !== this.first.height))
        throw new Error(
          `is ${header.width}x${header.height}, but ${this.first.rel} is ${this.first.width}x${this.first.height}: all images must have one size`,
        );
      decoded = decodePng(bytes, this.maxSide);
      this.channels = Math.max(this.channels, CHANNELS[header.colorType] ?? 3);
    } catch (err) {
      throw new DatasetError(`${file.rel}: ${(err as Error).message}`);
    }
    this.first ??= { rel: file.rel, width: decoded.width, height: decoded.height };
    return toGrey28(decoded.width, decoded.height, decoded.rgb);
  }

  size(): { width: number; height: number } {
    return { width: this.first!.width, height: this.first!.height };
  }
}

/** images of the given files (in order) with their labels */
function readSet(files: Array<{ file: Entry; label: number }>, reader: ImageReader): ImageSet {
  const images = new Uint8Array(files.length * IMAGE_PIXELS);
  const labels = new Uint16Array(files.length);
  files.forEach(({ file, label }, i) => {
    images.set(reader.read(file), i * IMAGE_PIXELS);
    labels[i] = label;
  });
  return { images, labels };
}

function checkClasses(classNames: string[]): void {
  if (classNames.length > MAX_CLASSES)
    throw new DatasetError(`${classNames.length} class folders; a data set has at most ${MAX_CLASSES} classes`);
  checkClassNames(classNames, 'class folders');
}

/** Read the PNG-folder data set in `dir`. */
export function readPngFolder(dir: string, options: PngFolderOptions = {}): PngFolderData {
  const { splitSeed, maxImages, maxSide } = { ...PNG_FOLDER_DEFAULTS, ...options };
  let top = list(dir, '');
  let root = { abs: dir, rel: '' };
  // one enclosing folder (tar czf set.tgz myset/) is looked through
  // (one folder of files only is a data set of one class, refused as such below)
  if (
    top.length === 1 &&
    top[0].kind === 'dir' &&
    !['train', 'test'].includes(top[0].name) &&
    list(top[0].abs, '').some((e) => e.kind === 'dir')
  ) {
    root = { abs: top[0].abs, rel: top[0].rel };
    top = list(root.abs, root.rel);
  }
  if (top.length === 0) throw new DatasetError('the data set is empty: expected one folder of .png files per class');
  const named = (name: string) => top.find((e) => e.name === name && e.kind === 'dir');
  const given = top.some((e) => e.name === 'train' || e.name === 'test');
  const reader = new ImageReader(maxSide);
  const pick = (classes: Map<string, Entry[]>, classNames: string[]) =>
    classNames.flatMap((name, label) => classes.get(name)!.map((file) => ({ file, label })));
  const rng = new Rng(splitSeed);
  const countCheck = (n: number) => {
    if (n > maxImages) throw new DatasetError(`${n} images; a data set holds at most ${maxImages}`);
  };

  let trainFiles: Array<{ file: Entry; label: number }>;
  let testFiles: Array<{ file: Entry; label: number }>;
  let validation: number;
  let classNames: string[];
  if (given) {
    const trainDir = named('train');
    const testDir = named('test');
    if (!trainDir || !testDir || top.length !== 2)
      throw new DatasetError(
        'with a train/ folder, the data set holds exactly two folders, train/ and test/, each with one folder per class',
      );
    const train = classFolders(trainDir.abs, trainDir.rel);
    const test = classFolders(testDir.abs, testDir.rel);
    classNames = [...train.keys()];
    checkClasses(classNames);
    const onlyIn = (a: Map<string, Entry[]>, b: Map<string, Entry[]>) => [...a.keys()].filter((k) => !b.has(k));
    const mismatch = [
      ...onlyIn(train, test).map((c) => `${c} (only in train/)`),
      ...onlyIn(test, train).map((c) => `${c} (only in test/)`),
    ];
    if (mismatch.length) throw new DatasetError(`train/ and test/ must have the same class folders: ${mismatch.slice(0, 5).join(', ')}`);
    countCheck([...train.values(), ...test.values()].reduce((n, f) => n + f.length, 0));
    // validation: a sixth of each class's training images (at least one), taken per class with the seed
    const fit: typeof trainFiles = [];
    const valid: typeof trainFiles = [];
    classNames.forEach((name, label) => {
      const files = train.get(name)!;
      if (files.length < 2)
        throw new DatasetError(`train/${name}: ${files.length} image; a class needs at least 2 for training and validation`);
      const order = rng.permutation(files.length).map((i) => ({ file: files[i], label }));
      const v = Math.max(1, Math.round(files.length / 6));
      valid.push(...order.slice(0, v));
      fit.push(...order.slice(v));
    });
    trainFiles = [...shuffled(fit, rng), ...shuffled(valid, rng)];
    validation = valid.length;
    testFiles = pick(test, classNames);
  } else {
    const classes = classFolders(root.abs, root.rel);
    classNames = [...classes.keys()];
    checkClasses(classNames);
    countCheck([...classes.values()].reduce((n, f) => n + f.length, 0));
    const fit: typeof trainFiles = [];
    const valid: typeof trainFiles = [];
    testFiles = [];
    classNames.forEach((name, label) => {
      const files = classes.get(name)!;
      if (files.length < 3)
        throw new DatasetError(
          `${files[0].rel.replace(/\/[^/]*$/, '')}: ${files.length} image(s); a class needs at least 3 (training, validation, test)`,
        );
      const order = rng.permutation(files.length).map((i) => ({ file: files[i], label }));
      const t = Math.max(1, Math.round(files.length / 7));
      const v = Math.max(1, Math.round((files.length - t) / 6));
      testFiles.push(...order.slice(0, t));
      valid.push(...order.slice(t, t + v));
      fit.push(...order.slice(t + v));
    });
    trainFiles = [...shuffled(fit, rng), ...shuffled(valid, rng)];
    validation = valid.length;
  }
  const train = readSet(trainFiles, reader);
  const test = readSet(testFiles, reader);
  const size = reader.size();
  const sourceImage = size.width === IMAGE_SIDE && size.height === IMAGE_SIDE ? undefined : size;
  const meta: DatasetMeta = { classNames, validation, ...(sourceImage ? { sourceImage } : {}) };
  const source: PngFolderSource = {
    ...size,
    channels: reader.channels,
    split: given ? 'folders' : 'seeded',
    ...(given ? {} : { splitSeed }),
  };
  const dataset = assembleDataset(dir, classNames, train, test, validation);
  return { dataset: sourceImage ? { ...dataset, sourceImage } : dataset, meta, train, test, source };
}

function shuffled<T>(items: T[], rng: Rng): T[] {
  return rng.permutation(items.length).map((i) => items[i]);
}
