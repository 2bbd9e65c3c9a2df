/**
 * From uploaded files (already on disk, checksummed) to a data set in the
 * form the service stores: the four IDX files gzipped, dataset.json (class
 * names, validation size) and preview.png, with what the Postgres row
 * records (classes, counts per split and class, image size and channels, the
 * split, a content checksum). Two layouts are taken:
 *   - one archive (.tar, .tar.gz, .zip) of PNG files in one folder per class
 *     (png-folder.ts in the engine reads it once unpacked);
 *   - the four MNIST-format IDX files, gzipped or raw, named as MNIST names
 *     them (train-images-idx3-ubyte[.gz], ... t10k-labels-idx1-ubyte[.gz]);
 *     their classes are the labels 0..max, or the names given.
 * Everything the data set holds is checked here, before anything is stored;
 * each problem is a DatasetError (400) or an UploadTooLarge (413).
 */
import { closeSync, createReadStream, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { createGunzip } from 'node:zlib';
import { createHash } from 'node:crypto';
import { archiveKind, extractArchive, UploadTooLarge, type ArchiveLimits } from './archive.js';
import { assembleDataset, DatasetError, type ImageDataset } from '../cpc/dataset.js';
import { idxDatasetFiles, idxImageSet, IDX_FILES, numberedClasses, type IdxFileRole } from '../cpc/idx-dataset.js';
import { parseIdx } from '../cpc/idx.js';
import { readPngFolder } from '../cpc/png-folder.js';
import { previewPng } from '../cpc/preview.js';
import { sha256Hex } from '../lib/hash.js';

export interface DatasetLimits extends ArchiveLimits {
  maxImages: number;
  maxSide: number;
}

/** one uploaded file, as the route streamed it to disk */
export interface UploadedFile {
  /** the name the client gave it (its multipart filename) */
  filename: string;
  path: string;
  bytes: number;
}

export interface IngestOptions {
  limits: DatasetLimits;
  /** seed of the per-class split of a PNG archive without train/ and test/ */
  splitSeed: number;
  /** names of the classes of an IDX upload, in label order */
  classNames?: string[];
  /** an empty directory for unpacking (the caller removes it) */
  scratch: string;
}

export interface IngestedDataset {
  format: 'idx' | 'png-folders';
  classNames: string[];
  counts: { train: number[]; valid: number[]; test: number[] };
  image: { width: number; height: number; channels: number };
  split: { kind: 'files' | 'folders' | 'seeded'; seed?: number };
  /** what is stored: the IDX files, dataset.json and preview.png */
  files: Array<{ name: string; bytes: Uint8Array }>;
  /** sha256 over the data files' names and sums: the same images, labels and classes give the same checksum */
  checksum: string;
}

export const PREVIEW_FILE = 'preview.png';

const IDX_ROLES = Object.entries(IDX_FILES) as Array<[IdxFileRole, string]>;

function idxRole(filename: string): IdxFileRole | null {
  const base = filename.replace(/^.*[\\/]/, '').replace(/\.gz$/i, '');
  return IDX_ROLES.find(([, name]) => name === base)?.[0] ?? null;
}

const IDX_ELEMENT_BYTES: Record<number, number> = { 0x08: 1, 0x0b: 2 };

/**
 * One uploaded IDX file, inflated as a stream: its header is read first, and a file whose
 * dimensions hold more images than a data set may (or more bytes than it may expand to) is refused
 * before the rest is inflated; one that goes on past what its dimensions need is refused there.
 */
async function readIdxUpload(file: UploadedFile, limits: DatasetLimits) {
  const head = Buffer.alloc(2);
  const fd = openSync(file.path, 'r');
  try {
    readSync(fd, head, 0, 2, 0);
  } finally {
    closeSync(fd);
  }
  const gzipped = head[0] === 0x1f && head[1] === 0x8b;
  if (/\.gz$/i.test(file.filename) && !gzipped) throw new DatasetError(`${file.filename}: named .gz, but it is not gzip data`);
  const chunks: Buffer[] = [];
  let total = 0;
  let expected = Infinity;
  let headerBytes = 0;
  const source = createReadStream(file.path);
  const stream = gzipped ? source.pipe(createGunzip()) : source;
  source.on('error', (err) => stream.destroy(err));
  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      chunks.push(chunk);
      total += chunk.length;
      if (expected === Infinity && total >= 4) {
        const header = Buffer.concat(chunks);
        const rank = header[3];
        const element = IDX_ELEMENT_BYTES[header[2]];
        if (element && rank >= 1 && rank <= 4 && total >= 4 + 4 * rank) {
          const dims = Array.from({ length: rank }, (_, i) => header.readUInt32BE(4 + 4 * i));
          if (dims[0] > limits.maxImages)
            throw new UploadTooLarge(`${file.filename}: ${dims[0]} images; a data set holds at most ${limits.maxImages}`);
          headerBytes = 4 + 4 * rank;
          expected = headerBytes + dims.reduce((a, b) => a * b, 1) * element;
          if (expected > limits.maxExpandedBytes)
            throw new UploadTooLarge(`${file.filename}: its dimensions need more than ${limits.maxExpandedBytes} bytes`);
        }
      }
      if (total > expected)
        throw new DatasetError(`${file.filename}: more data than its dimensions need (${expected - headerBytes} bytes after the header)`);
      if (total > limits.maxExpandedBytes)
        throw new UploadTooLarge(`${file.filename}: expands to more than ${limits.maxExpandedBytes} bytes`);
    }
  } catch (err) {
    stream.destroy();
    if (err instanceof DatasetError || err instanceof UploadTooLarge) throw err;
    throw new DatasetError(`${file.filename}: corrupt or truncated gzip data (${(err as Error).message})`);
  }
  return parseIdx(Buffer.concat(chunks), file.filename);
}

function countsOf(dataset: ImageDataset): IngestedDataset['counts'] {
  const per = (split: 'train' | 'valid' | 'test') => dataset.splits[split].byLabel.map((l) => l.length);
  return { train: per('train'), valid: per('valid'), test: per('test') };
}

function finish(
  dataset: ImageDataset,
  files: Array<{ name: string; bytes: Uint8Array }>,
  rest: Omit<IngestedDataset, 'classNames' | 'counts' | 'files' | 'checksum'>,
): IngestedDataset {
  const sums = files.map((f) => `${f.name} ${sha256Hex(f.bytes)}\n`).join('');
  return {
    ...rest,
    classNames: dataset.classNames,
    counts: countsOf(dataset),
    files: [...files, { name: PREVIEW_FILE, bytes: previewPng(dataset) }],
    checksum: createHash('sha256').update(sums).digest('hex'),
  };
}

async function ingestArchive(file: UploadedFile, options: IngestOptions): Promise<IngestedDataset> {
  const kind = await archiveKind(file.path);
  if (!kind) throw new DatasetError(`${file.filename}: not a .tar, .tar.gz or .zip archive (nor one of the four IDX files)`);
  if (options.classNames) throw new DatasetError('classNames are for IDX uploads: in an archive, the class folders name the classes');
  const dest = join(options.scratch, 'unpacked');
  await extractArchive(file.path, kind, dest, file.bytes, options.limits);
  const { limits, splitSeed } = options;
  const png = readPngFolder(dest, { splitSeed, maxImages: limits.maxImages, maxSide: limits.maxSide });
  return finish(png.dataset, idxDatasetFiles(png.meta, png.train, png.test), {
    format: 'png-folders',
    image: { width: png.source.width, height: png.source.height, channels: png.source.channels },
    split: png.source.split === 'seeded' ? { kind: 'seeded', seed: splitSeed } : { kind: 'folders' },
  });
}

async function ingestIdx(files: UploadedFile[], options: IngestOptions): Promise<IngestedDataset> {
  const byRole = new Map<IdxFileRole, UploadedFile>();
  for (const f of files) {
    const role = idxRole(f.filename);
    if (!role)
      throw new DatasetError(`${f.filename}: not one of the four IDX files (${Object.values(IDX_FILES).join(', ')}, each raw or .gz)`);
    if (byRole.has(role)) throw new DatasetError(`${f.filename}: ${IDX_FILES[role]} is given twice`);
    byRole.set(role, f);
  }
  const missing = IDX_ROLES.filter(([role]) => !byRole.has(role)).map(([, name]) => name);
  if (missing.length) throw new DatasetError(`an IDX upload has all four files; missing: ${missing.join(', ')}`);
  const read = (role: IdxFileRole) => readIdxUpload(byRole.get(role)!, options.limits);
  const set = async (images: IdxFileRole, labels: IdxFileRole) =>
    idxImageSet(await read(images), await read(labels), { images: byRole.get(images)!.filename, labels: byRole.get(labels)!.filename });
  const train = await set('trainImages', 'trainLabels');
  const test = await set('testImages', 'testLabels');
  const total = train.labels.length + test.labels.length;
  if (total > options.limits.maxImages) throw new UploadTooLarge(`${total} images; a data set holds at most ${options.limits.maxImages}`);
  const classNames = options.classNames ?? numberedClasses(train, test);
  let dataset: ImageDataset;
  try {
    dataset = assembleDataset('the upload', classNames, train, test);
  } catch (err) {
    // (a problem with labels is told with the labels file it is in)
    const message = (err as Error).message;
    const labels = /test split/.test(message) ? 'testLabels' : /(train|valid) split/.test(message) ? 'trainLabels' : null;
    throw labels ? new DatasetError(`${byRole.get(labels)!.filename}: ${message}`) : err;
  }
  const meta = { classNames, validation: dataset.splits.valid.count };
  return finish(dataset, idxDatasetFiles(meta, train, test), {
    format: 'idx',
    image: { width: 28, height: 28, channels: 1 },
    split: { kind: 'files' },
  });
}

/** Check an upload and turn it into the stored form. */
export async function ingestUpload(files: UploadedFile[], options: IngestOptions): Promise<IngestedDataset> {
  if (files.length === 0) throw new DatasetError('no file in the upload: send one archive, or the four IDX files');
  if (files.length === 1 && !idxRole(files[0].filename)) return ingestArchive(files[0], options);
  return ingestIdx(files, options);
}
