/**
 * Data sets beyond MNIST in the engine: PNG files in one folder per class (png-folder.ts), IDX
 * files with named classes and 16-bit labels (idx-dataset.ts), and sequences and probes over a
 * class count other than 10.
 */
import { describe, it, expect } from 'vitest';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { compareNames, readPngFolder, toGrey28 } from '../src/cpc/png-folder.js';
import { idxDatasetFiles, writeIdxDataset } from '../src/cpc/idx-dataset.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { DatasetError, type ImageSet } from '../src/cpc/dataset.js';
import { encodeIdx } from '../src/cpc/idx.js';
import { encodePng } from '../src/cpc/png.js';
import { Rng } from '../src/cpc/rng.js';
import { sampleSequences } from '../src/cpc/sequences.js';
import { sampleLabelledImages } from '../src/cpc/probe.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { drawShape, greyToRgb, writeShapeFolders } from './fixtures/shapes.js';
import { tempDir } from './helpers.js';

const png = (side: number, value = 255) => encodePng(side, side, new Uint8Array(side * side * 3).fill(value));

function expectDatasetError(dir: string, message: RegExp) {
  let error: unknown;
  try {
    readPngFolder(dir);
  } catch (err) {
    error = err;
  }
  expect(error, `expected a DatasetError matching ${message}`).toBeInstanceOf(DatasetError);
  expect((error as Error).message).toMatch(message);
  // messages name paths inside the data set, never the directory it sits in on this machine
  expect((error as Error).message).not.toContain(dir);
}

describe('PNG-folder data sets', () => {
  it('reads one folder per class with a seeded, stratified split (a seventh for test, a sixth of the rest for validation)', () => {
    const dir = tempDir();
    const classNames = writeShapeFolders(dir, { classes: ['ring', 'circle', 'cross'], perClass: 21, side: 40 });
    const { dataset, meta, source } = readPngFolder(dir);
    expect(dataset.classNames).toEqual(classNames);
    expect(dataset.classNames).toEqual(['circle', 'cross', 'ring']);
    // (encodePng writes RGBA)
    expect(source).toEqual({ width: 40, height: 40, channels: 4, split: 'seeded', splitSeed: 0 });
    const counts = (split: 'train' | 'valid' | 'test') => dataset.splits[split].byLabel.map((l) => l.length);
    expect(counts('test')).toEqual([3, 3, 3]);
    expect(counts('valid')).toEqual([3, 3, 3]);
    expect(counts('train')).toEqual([15, 15, 15]);
    expect(meta).toEqual({ classNames, validation: 9, sourceImage: { width: 40, height: 40 } });
    expect(dataset.splits.train.images.length).toBe(45 * 784);
    // the same seed gives the same split; another seed another
    const again = readPngFolder(dir).dataset;
    expect(again.splits.test.images).toEqual(dataset.splits.test.images);
    expect(readPngFolder(dir, { splitSeed: 7 }).dataset.splits.test.images).not.toEqual(dataset.splits.test.images);
  });

  it('takes train/ and test/ folders as given, and looks through one enclosing folder', () => {
    const dir = tempDir();
    writeShapeFolders(join(dir, 'my-set'), { classes: ['square', 'bar'], perClass: 10, splitFolders: true });
    writeFileSync(join(dir, 'my-set', '.DS_Store'), 'finder');
    mkdirSync(join(dir, '__MACOSX'));
    const { dataset, source } = readPngFolder(dir);
    expect(dataset.classNames).toEqual(['bar', 'square']);
    expect(source.split).toBe('folders');
    expect(dataset.splits.test.count).toBe(4);
    expect(dataset.splits.valid.count + dataset.splits.train.count).toBe(16);
  });

  it('orders class folders naturally ("2" before "10") and the same on every machine', () => {
    expect(['10', '2', 'b', 'B', 'a1', 'a10', 'a2'].sort(compareNames)).toEqual(
      ['10', '2', 'B', 'a1', 'a10', 'a2', 'b'].sort(compareNames),
    );
    expect(['10', '2', '1'].sort(compareNames)).toEqual(['1', '2', '10']);
    expect(['a10', 'a2'].sort(compareNames)).toEqual(['a2', 'a10']);
  });

  it('turns any size and colour into 28x28 luminance by area (a white square stays white, RGB weighs green most)', () => {
    expect(Array.from(new Set(toGrey28(56, 56, new Uint8Array(56 * 56 * 3).fill(255))))).toEqual([255]);
    const green = new Uint8Array(7 * 7 * 3);
    for (let i = 0; i < 49; i++) green[i * 3 + 1] = 255;
    expect(toGrey28(7, 7, green)[0]).toBe(Math.round(0.587 * 255));
    // a 2x2 checkerboard of 0 and 255 halved to 28x28 averages to the middle grey
    const side = 56;
    const board = new Uint8Array(side * side * 3);
    for (let y = 0; y < side; y++)
      for (let x = 0; x < side; x++) board.fill((x + y) % 2 ? 255 : 0, (y * side + x) * 3, (y * side + x) * 3 + 3);
    expect(Array.from(new Set(toGrey28(side, side, board)))).toEqual([128]);
  });

  it('refuses what is not a data set, naming the file and the reason', () => {
    const cases: Array<[string, (dir: string) => void, RegExp]> = [
      ['empty', () => undefined, /empty/],
      ['one class', (d) => writeShapeFolders(d, { classes: ['circle'] }), /1 class; a data set has 2 to 1000/],
      [
        'a stray file',
        (d) => {
          writeShapeFolders(d);
          writeFileSync(join(d, 'notes.txt'), 'x');
        },
        /notes\.txt: expected only class folders/,
      ],
      [
        'a non-PNG in a class',
        (d) => {
          writeShapeFolders(d);
          writeFileSync(join(d, 'circle', 'x.jpg'), 'x');
        },
        /circle\/x\.jpg: not a \.png file/,
      ],
      [
        'a nested folder',
        (d) => {
          writeShapeFolders(d);
          mkdirSync(join(d, 'circle', 'more'));
        },
        /circle\/more: a class folder holds only \.png files, found a folder/,
      ],
      [
        'a link',
        (d) => {
          writeShapeFolders(d);
          symlinkSync('/etc/passwd', join(d, 'circle', 'evil.png'));
        },
        /circle\/evil\.png: a class folder holds only \.png files, found a link/,
      ],
      [
        'mixed sizes',
        (d) => {
          writeShapeFolders(d, { side: 32 });
          writeFileSync(join(d, 'square', 'zz.png'), png(30));
        },
        /square\/zz\.png: is 30x30, but \w+\/\w+-\d+\.png is 32x32: all images must have one size/,
      ],
      [
        'undecodable',
        (d) => {
          writeShapeFolders(d);
          writeFileSync(join(d, 'cross', 'broken.png'), png(32).subarray(0, 60));
        },
        /cross\/broken\.png: .*(corrupt|truncated)/,
      ],
      [
        'not a PNG at all',
        (d) => {
          writeShapeFolders(d);
          writeFileSync(join(d, 'cross', 'text.png'), 'hello, I am not a picture at all, just text');
        },
        /cross\/text\.png: not a PNG file/,
      ],
      [
        'too large a side',
        (d) => {
          mkdirSync(join(d, 'a'));
          mkdirSync(join(d, 'b'));
          for (const c of ['a', 'b']) for (let i = 0; i < 3; i++) writeFileSync(join(d, c, `${i}.png`), png(300));
        },
        /at most 256x256/,
      ],
      [
        'a class too small to split',
        (d) => {
          writeShapeFolders(d, { classes: ['circle', 'bar'], perClass: 2 });
        },
        /bar: 2 image\(s\); a class needs at least 3/,
      ],
      [
        'a class folder without images',
        (d) => {
          writeShapeFolders(d);
          mkdirSync(join(d, 'empty-class'));
        },
        /empty-class: the class "empty-class" has no images/,
      ],
      [
        'train/ and test/ with other classes',
        (d) => {
          writeShapeFolders(d, { splitFolders: true, perClass: 10 });
          mkdirSync(join(d, 'train', 'ring'));
          writeFileSync(join(d, 'train', 'ring', '0.png'), png(32));
          writeFileSync(join(d, 'train', 'ring', '1.png'), png(32));
        },
        /same class folders: ring \(only in train\/\)/,
      ],
    ];
    for (const [name, build, message] of cases) {
      const dir = tempDir();
      build(dir);
      expect(() => expectDatasetError(dir, message), name).not.toThrow();
    }
    // too many images for the limit: refused before any is decoded
    const many = tempDir();
    writeShapeFolders(many, { perClass: 5 });
    expect(() => readPngFolder(many, { maxImages: 14 })).toThrow(/15 images; a data set holds at most 14/);
  });

  it('is what loadDataset reads for a folder without IDX files (the CLI --data path)', () => {
    const dir = tempDir();
    writeShapeFolders(dir, { classes: ['bar', 'cross', 'ring', 'square'], perClass: 14 });
    const dataset = loadDataset(dir);
    expect(dataset.classNames).toEqual(['bar', 'cross', 'ring', 'square']);
    expect(dataset.splits.test.byLabel.map((l) => l.length)).toEqual([2, 2, 2, 2]);
  });
});

describe('IDX data sets with named classes', () => {
  it('writes and reads back 300 classes (16-bit labels) with their names and validation size', () => {
    const classes = 300;
    const rng = new Rng(3);
    const set = (n: number): ImageSet => ({
      images: Uint8Array.from({ length: n * 784 }, () => rng.int(256)),
      labels: Uint16Array.from({ length: n }, (_, i) => i % classes),
    });
    const train = set(1200);
    const test = set(600);
    const classNames = Array.from({ length: classes }, (_, i) => `class ${i}`);
    const dir = tempDir();
    writeIdxDataset(dir, idxDatasetFiles({ classNames, validation: 300 }, train, test));
    const dataset = loadDataset(dir);
    expect(dataset.classNames).toEqual(classNames);
    expect(dataset.splits.valid.count).toBe(300);
    expect(dataset.splits.train.count).toBe(900);
    expect(dataset.splits.train.labels[299]).toBe(299);
    expect(Array.from(dataset.splits.test.images.subarray(0, 784))).toEqual(Array.from(test.images.subarray(0, 784)));
  });

  it('without dataset.json, the classes are the labels 0..max; a class with no image in a split is refused', () => {
    const dir = tempDir();
    const labels = (n: number, k: number) => Uint8Array.from({ length: n }, (_, i) => i % k);
    writeFileSync(join(dir, 'train-images-idx3-ubyte.gz'), gzipSync(encodeIdx([60, 28, 28], new Uint8Array(60 * 784))));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([60], labels(60, 4))));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), encodeIdx([12, 28, 28], new Uint8Array(12 * 784)));
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([12], labels(12, 3)));
    expect(() => loadDataset(dir)).toThrow(/the test split has no image of class "3" \(label 3\)/);
    writeFileSync(join(dir, 't10k-labels-idx1-ubyte'), encodeIdx([12], labels(12, 4)));
    expect(loadDataset(join(dir, '.')).classNames).toEqual(['0', '1', '2', '3']);
  });
});

describe('any class count', () => {
  it('sorted sequences run through consecutive class indices and wrap after the last; negatives differ everywhere in the future', () => {
    const { digits, labels } = sampleSequences({ task: 'sorted', terms: 3, predictTerms: 2 }, 200, 0.5, new Rng(4), 3);
    for (let b = 0; b < 200; b++) {
      const seq = Array.from(digits.subarray(b * 5, b * 5 + 5));
      expect(seq.every((c) => c >= 0 && c < 3)).toBe(true);
      for (let t = 1; t < 3; t++) expect(seq[t]).toBe((seq[t - 1] + 1) % 3);
      for (let t = 3; t < 5; t++) expect(seq[t] === (seq[t - 1] + 1) % 3 || labels[b] === 0).toBe(true);
      if (labels[b] === 0) for (let t = 3; t < 5; t++) expect(seq[t]).not.toBe((seq[2] + t - 2) % 3);
    }
    // two classes: a negative's future is the other class
    const two = sampleSequences({ task: 'same', terms: 2, predictTerms: 2 }, 50, 0.5, new Rng(5), 2);
    for (let b = 0; b < 50; b++) {
      const s = Array.from(two.digits.subarray(b * 4, b * 4 + 4));
      expect(s[2] === s[0]).toBe(two.labels[b] === 1);
    }
  });

  it("a probe set asked for more images than the split has takes each of the split's images once", () => {
    const dir = tempDir();
    writeShapeFolders(dir, { perClass: 14 });
    const dataset = loadDataset(dir);
    const style = { imageSize: 28, color: 'grey' as const };
    const set = sampleLabelledImages(dataset, 'test', 1000, style, proceduralTexture(1), new Rng(1));
    expect(set.count).toBe(dataset.splits.test.count);
    expect(set.classes).toBe(3);
    expect([...set.labels].sort()).toEqual([...dataset.splits.test.labels].sort());
  });

  it('draws the fixture shapes distinctly (the classes are learnable)', () => {
    const rng = new Rng(1);
    const a = drawShape('circle', 28, rng);
    const b = drawShape('bar', 28, rng);
    expect(greyToRgb(a)).toHaveLength(28 * 28 * 3);
    expect(a.filter((v) => v > 128).length).toBeGreaterThan(b.filter((v) => v > 128).length);
  });
});
