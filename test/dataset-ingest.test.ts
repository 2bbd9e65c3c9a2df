/**
 * Uploaded data sets before anything is stored (src/datasets): archives unpacked safely and read
 * as PNG folders, IDX files checked, and every bad input refused with the reason.
 */
import { describe, it, expect } from 'vitest';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ingestUpload, type DatasetLimits, type UploadedFile } from '../src/datasets/ingest.js';
import { UploadTooLarge } from '../src/datasets/archive.js';
import { DatasetError } from '../src/cpc/dataset.js';
import { encodeIdx } from '../src/cpc/idx.js';
import { encodePng } from '../src/cpc/png.js';
import { writeShapeFolders } from './fixtures/shapes.js';
import { filesOf, tarOf, zipOf, type ArchiveEntry } from './fixtures/archives.js';
import { tempDir } from './helpers.js';

const LIMITS: DatasetLimits = { maxEntries: 1000, maxExpandedBytes: 64 * 1024 * 1024, maxRatio: 100, maxImages: 10_000, maxSide: 256 };

function upload(files: Array<{ filename: string; bytes: Uint8Array }>): UploadedFile[] {
  const dir = tempDir();
  return files.map((f, i) => {
    const path = join(dir, `part-${i}`);
    writeFileSync(path, f.bytes);
    return { filename: f.filename, path, bytes: f.bytes.length };
  });
}

const ingest = (files: UploadedFile[], extra: { classNames?: string[]; limits?: Partial<DatasetLimits> } = {}) =>
  ingestUpload(files, { limits: { ...LIMITS, ...extra.limits }, splitSeed: 0, scratch: tempDir(), classNames: extra.classNames });

async function refused(files: UploadedFile[], kind: typeof DatasetError | typeof UploadTooLarge, message: RegExp, extra = {}) {
  const err = await ingest(files, extra).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err, `expected ${kind.name} ${message}`).toBeInstanceOf(kind);
  expect((err as Error).message).toMatch(message);
}

function shapeEntries(options: Parameters<typeof writeShapeFolders>[1] = {}): ArchiveEntry[] {
  const dir = tempDir();
  writeShapeFolders(join(dir, 'shapes'), options);
  return filesOf(dir);
}

function idxFiles(options: { train?: number; test?: number; classes?: number; gzip?: boolean } = {}) {
  const { train = 60, test = 20, classes = 4, gzip = true } = options;
  const z = (b: Uint8Array) => (gzip ? gzipSync(b) : b);
  const suffix = gzip ? '.gz' : '';
  const labels = (n: number) => Uint8Array.from({ length: n }, (_, i) => i % classes);
  return {
    trainImages: {
      filename: `train-images-idx3-ubyte${suffix}`,
      bytes: z(encodeIdx([train, 28, 28], new Uint8Array(train * 784).fill(9))),
    },
    trainLabels: { filename: `train-labels-idx1-ubyte${suffix}`, bytes: z(encodeIdx([train], labels(train))) },
    testImages: { filename: `t10k-images-idx3-ubyte${suffix}`, bytes: z(encodeIdx([test, 28, 28], new Uint8Array(test * 784))) },
    testLabels: { filename: `t10k-labels-idx1-ubyte${suffix}`, bytes: z(encodeIdx([test], labels(test))) },
  };
}

describe('PNG-folder archives', () => {
  it('reads .tar, .tar.gz and .zip alike: the same images give the same data set and checksum', async () => {
    const entries = shapeEntries({ classes: ['cross', 'ring'], perClass: 14 });
    const results = await Promise.all([
      ingest(upload([{ filename: 'shapes.tar', bytes: await tarOf(entries) }])),
      ingest(upload([{ filename: 'shapes.tgz', bytes: await tarOf(entries, true) }])),
      ingest(upload([{ filename: 'shapes.zip', bytes: zipOf(entries) }])),
      // (the name does not decide the format: the first bytes do)
      ingest(upload([{ filename: 'misnamed.tar', bytes: zipOf(entries, false) }])),
    ]);
    for (const r of results) {
      expect(r).toMatchObject({
        format: 'png-folders',
        classNames: ['cross', 'ring'],
        counts: { train: [10, 10], valid: [2, 2], test: [2, 2] },
        image: { width: 32, height: 32, channels: 4 },
        split: { kind: 'seeded', seed: 0 },
      });
      expect(r.checksum).toBe(results[0].checksum);
    }
    expect(results[0].files.map((f) => f.name)).toEqual([
      'train-images-idx3-ubyte.gz',
      'train-labels-idx1-ubyte.gz',
      't10k-images-idx3-ubyte.gz',
      't10k-labels-idx1-ubyte.gz',
      'dataset.json',
      'preview.png',
    ]);
  });

  it('refuses path traversal, absolute paths, links, special files and duplicates, in tar and zip', async () => {
    const good = shapeEntries({ perClass: 4 });
    const png = good[0].data!;
    const cases: Array<[string, ArchiveEntry[], RegExp, ('tar' | 'zip')[]]> = [
      ['..', [...good, { name: 'shapes/circle/../../../evil.png', data: png }], /a path that leaves the archive/, ['tar', 'zip']],
      ['absolute', [...good, { name: '/tmp/evil.png', data: png }], /absolute path|invalid|leaves/, ['tar', 'zip']],
      [
        'symlink',
        [...good, { name: 'shapes/circle/link.png', type: 'symlink', linkname: '/etc/passwd', mode: 0o120777 }],
        /symlink|link or special file/,
        ['tar', 'zip'],
      ],
      [
        'hard link',
        [...good, { name: 'shapes/circle/hard.png', type: 'link', linkname: 'shapes/circle/circle-0.png' }],
        /a link; only files and folders/,
        ['tar'],
      ],
      ['fifo', [...good, { name: 'shapes/circle/pipe.png', type: 'fifo' }], /a fifo; only files and folders/, ['tar']],
      ['duplicate', [...good, { name: good[0].name, data: png }], /appears twice/, ['tar', 'zip']],
      ['backslash', [...good, { name: 'shapes\\circle\\x.png', data: png }], /backslashes/, ['tar']],
    ];
    for (const [name, entries, message, formats] of cases) {
      for (const format of formats) {
        const bytes = format === 'tar' ? await tarOf(entries) : zipOf(entries);
        const err = await ingest(upload([{ filename: `x.${format}`, bytes }])).then(
          () => null,
          (e: unknown) => e,
        );
        expect(err, `${name} (${format})`).toBeInstanceOf(DatasetError);
        expect((err as Error).message, `${name} (${format})`).toMatch(message);
      }
    }
  });

  it('writes nothing outside its scratch directory, even for an entry that tries', async () => {
    const scratch = tempDir();
    const outside = join(scratch, '..', `escaped-${process.pid}.png`);
    const bytes = await tarOf([{ name: `../escaped-${process.pid}.png`, data: new Uint8Array(10) }]);
    await expect(ingestUpload(upload([{ filename: 'x.tar', bytes }]), { limits: LIMITS, splitSeed: 0, scratch })).rejects.toThrow(
      DatasetError,
    );
    expect(existsSync(outside)).toBe(false);
  });

  it('refuses archive bombs: too many entries, too many bytes, too high a ratio, sizes that lie', async () => {
    const many = Array.from({ length: 30 }, (_, i) => ({ name: `a/${i}.png`, data: new Uint8Array(1) }));
    for (const bytes of [await tarOf(many), zipOf(many)])
      await refused(upload([{ filename: 'many', bytes }]), UploadTooLarge, /more than 20 entries|30 entries, more than 20/, {
        limits: { maxEntries: 20 },
      });
    // 40 MiB of zeros: a gzip of 40 KiB, a ratio near 1000
    const zeros = new Uint8Array(40 * 1024 * 1024);
    await refused(
      upload([{ filename: 'bomb.tgz', bytes: await tarOf([{ name: 'a/zero.png', data: zeros }], true) }]),
      UploadTooLarge,
      /more than 100 times its size/,
    );
    await refused(
      upload([{ filename: 'bomb.zip', bytes: zipOf([{ name: 'a/zero.png', data: zeros }]) }]),
      UploadTooLarge,
      /expands more than 100 times/,
    );
    await refused(
      upload([{ filename: 'big.tgz', bytes: await tarOf([{ name: 'a/zero.png', data: zeros }], true) }]),
      UploadTooLarge,
      /expands to more than 1048576 bytes/,
      {
        limits: { maxExpandedBytes: 1024 * 1024, maxRatio: 1e6 },
      },
    );
    // a zip entry whose headers declare 10 bytes but that inflates to 100 KiB
    await refused(
      upload([{ filename: 'liar.zip', bytes: zipOf([{ name: 'a/x.png', data: new Uint8Array(100_000), declaredSize: 10 }]) }]),
      DatasetError,
      /cannot be read|too many bytes|size/,
    );
  });

  it('refuses a PNG bomb inside an archive (a tiny file declaring a huge image) before decoding it', async () => {
    const entries = shapeEntries({ perClass: 4 });
    const bomb = Buffer.from(encodePng(32, 32, new Uint8Array(32 * 32 * 3)));
    bomb.writeUInt32BE(60_000, 16); // IHDR width
    bomb.writeUInt32BE(60_000, 20); // IHDR height
    const bytes = await tarOf([...entries, { name: 'shapes/circle/bomb.png', data: bomb }]);
    await refused(upload([{ filename: 'x.tar', bytes }]), DatasetError, /shapes\/circle\/bomb\.png: .*60000x60000/);
  });

  it("takes zips whose entries carry permissions without a file type (Python's zipfile), and old v7 tars", async () => {
    const entries = shapeEntries({ classes: ['cross', 'ring'], perClass: 4 });
    const python = zipOf(entries.map((e) => ({ ...e, mode: 0o600 })));
    expect((await ingest(upload([{ filename: 'py.zip', bytes: python }]))).classNames).toEqual(['cross', 'ring']);
    // a v7 header: no ustar magic, only its checksum says it is a tar header
    const tar = Buffer.from(await tarOf(entries));
    for (let at = 0; at < tar.length; at += 512) {
      if (tar.toString('latin1', at + 257, at + 262) !== 'ustar') continue;
      tar.fill(0, at + 257, at + 265);
      tar.fill(0x20, at + 148, at + 156);
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += tar[at + i];
      tar.write(`${sum.toString(8).padStart(6, '0')}\0 `, at + 148, 'latin1');
    }
    expect((await ingest(upload([{ filename: 'v7.tar', bytes: tar }]))).classNames).toEqual(['cross', 'ring']);
  });

  it('refuses what is not an archive, and a corrupt one', async () => {
    await refused(
      upload([{ filename: 'notes.txt', bytes: Buffer.from('just some text, not an archive at all') }]),
      DatasetError,
      /not a \.tar, \.tar\.gz or \.zip/,
    );
    const tgz = await tarOf(shapeEntries({ perClass: 4 }), true);
    await refused(
      upload([{ filename: 'cut.tgz', bytes: tgz.subarray(0, tgz.length / 2) }]),
      DatasetError,
      /not a \.tar\.gz archive that can be read/,
    );
    await refused(
      upload([{ filename: 'cut.zip', bytes: zipOf(shapeEntries({ perClass: 4 })).subarray(0, 500) }]),
      DatasetError,
      /not a \.zip archive that can be read/,
    );
    // (an empty tar is 1024 zero bytes)
    await refused(upload([{ filename: 'x.tar', bytes: await tarOf([]) }]), DatasetError, /empty/);
    await refused(upload([{ filename: 'x.zip', bytes: zipOf([]) }]), DatasetError, /empty/);
  });

  it('refuses class names with an IDX-only option, and counts images against the limit', async () => {
    const bytes = await tarOf(shapeEntries({ perClass: 4 }));
    await refused(upload([{ filename: 'x.tar', bytes }]), DatasetError, /classNames are for IDX uploads/, { classNames: ['a', 'b', 'c'] });
    await refused(upload([{ filename: 'x.tar', bytes }]), DatasetError, /12 images; a data set holds at most 10/, {
      limits: { maxImages: 10 },
    });
  });
});

describe('IDX uploads', () => {
  it('takes the four files gzipped or raw, with classes 0..max or the names given', async () => {
    for (const gzip of [true, false]) {
      const r = await ingest(upload(Object.values(idxFiles({ gzip }))));
      expect(r).toMatchObject({
        format: 'idx',
        classNames: ['0', '1', '2', '3'],
        image: { width: 28, height: 28, channels: 1 },
        split: { kind: 'files' },
      });
      expect(r.counts).toEqual({ train: [13, 13, 12, 12], valid: [2, 2, 3, 3], test: [5, 5, 5, 5] });
    }
    const named = await ingest(upload(Object.values(idxFiles())), { classNames: ['north', 'east', 'south', 'west'] });
    expect(named.classNames).toEqual(['north', 'east', 'south', 'west']);
  });

  it('refuses each bad IDX input with the file and the reason', async () => {
    const f = idxFiles();
    const replace = (key: keyof typeof f, bytes: Uint8Array, filename = f[key].filename) =>
      upload(Object.values({ ...f, [key]: { filename, bytes } }));
    const raw = idxFiles({ gzip: false });
    const badMagic = Buffer.from(raw.trainImages.bytes);
    badMagic[0] = 7;
    const cases: Array<[string, UploadedFile[], RegExp, object?]> = [
      [
        'truncated gz',
        replace('trainImages', f.trainImages.bytes.subarray(0, f.trainImages.bytes.length - 10)),
        /train-images-idx3-ubyte\.gz: corrupt or truncated gzip/,
      ],
      [
        '.gz that is not gzip',
        replace('trainLabels', raw.trainLabels.bytes),
        /train-labels-idx1-ubyte\.gz: named \.gz, but it is not gzip data/,
      ],
      ['bad magic', replace('trainImages', badMagic, 'train-images-idx3-ubyte'), /train-images-idx3-ubyte: bad magic number/],
      [
        'wrong dimensions',
        replace('testImages', encodeIdx([20, 32, 32], new Uint8Array(20 * 1024)), 't10k-images-idx3-ubyte'),
        /expected N x 28 x 28/,
      ],
      ['count mismatch', replace('testLabels', encodeIdx([19], new Uint8Array(19)), 't10k-labels-idx1-ubyte'), /19 labels for 20 images/],
      ['zero images', upload(Object.values(idxFiles({ test: 0 }))), /holds no images/],
      [
        'a class with none',
        upload(
          Object.values({ ...f, testLabels: { filename: 't10k-labels-idx1-ubyte', bytes: encodeIdx([20], new Uint8Array(20).fill(1)) } }),
        ),
        /the test split has no image of class "0"/,
      ],
      [
        'labels beyond the classes',
        upload(Object.values(f)),
        /train-labels-idx1-ubyte\.gz: image \d+ of the train split has label 3, beyond the 3 classes/,
        { classNames: ['a', 'b', 'c'] },
      ],
      ['a missing file', upload(Object.values(f).slice(0, 3)), /missing: t10k-labels-idx1-ubyte/],
      ['a file given twice', upload([...Object.values(f).slice(0, 3), f.trainImages]), /given twice/],
      [
        'a stranger',
        upload([...Object.values(f).slice(0, 3), { filename: 'labels.csv', bytes: Buffer.from('1,2') }]),
        /labels\.csv: not one of the four IDX files/,
      ],
      ['one class', upload(Object.values(idxFiles({ classes: 1 }))), /1 class; a data set has 2 to 1000/],
      ['duplicate class names', upload(Object.values(f)), /appears twice/, { classNames: ['a', 'b', 'a', 'c'] }],
    ];
    for (const [name, files, message, extra] of cases) {
      const err = await ingest(files, extra).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err, name).toBeInstanceOf(DatasetError);
      expect((err as Error).message, name).toMatch(message);
    }
    // a gzip bomb as an IDX file: refused by what it expands to, not read whole
    const bomb = gzipSync(new Uint8Array(8 * 1024 * 1024));
    await refused(replace('trainImages', bomb), UploadTooLarge, /expands to more than 1048576 bytes/, {
      limits: { maxExpandedBytes: 1024 * 1024 },
    });
    await refused(upload(Object.values(f)), UploadTooLarge, /train-images-idx3-ubyte\.gz: 60 images; a data set holds at most 50/, {
      limits: { maxImages: 50 },
    });
    // IDX headers that declare too much: refused from the header, before the rest is inflated
    const header = (n: number) => encodeIdx([n, 28, 28], new Uint8Array(0)).subarray(0, 16);
    const lying = gzipSync(Buffer.concat([header(1_300_000), new Uint8Array(8 * 1024 * 1024)]));
    await refused(replace('trainImages', lying), UploadTooLarge, /1300000 images; a data set holds at most 10000/);
    const long = gzipSync(Buffer.concat([header(60), new Uint8Array(8 * 1024 * 1024)]));
    await refused(replace('trainImages', long), DatasetError, /more data than its dimensions need \(47040 bytes after the header\)/);
    const big = gzipSync(Buffer.concat([header(5000), new Uint8Array(5000 * 784)]));
    await refused(replace('trainImages', big), UploadTooLarge, /dimensions need more than 1048576 bytes/, {
      limits: { maxExpandedBytes: 1024 * 1024 },
    });
  });

  it('leaves its scratch directory to the caller and writes only there', async () => {
    const scratch = tempDir();
    mkdirSync(scratch, { recursive: true });
    await ingestUpload(upload([{ filename: 'x.tar', bytes: await tarOf(shapeEntries({ perClass: 4 })) }]), {
      limits: LIMITS,
      splitSeed: 0,
      scratch,
    });
    expect(readdirSync(scratch)).toEqual(['unpacked']);
  });
});
