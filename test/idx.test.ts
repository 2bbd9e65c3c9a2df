import { describe, it, expect } from 'vitest';
import { gzipSync } from 'node:zlib';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { parseIdx, encodeIdx, IdxFormatError } from '../src/cpc/idx.js';
import { loadDataset, defaultDataDir } from '../src/cpc/load-dataset.js';
import { tempDir } from './helpers.js';

describe('IDX reader', () => {
  const images = encodeIdx([2, 28, 28], new Uint8Array(2 * 784).fill(7));

  it('reads raw and gzip files with their dimensions', () => {
    for (const bytes of [images, gzipSync(images)]) {
      const idx = parseIdx(bytes);
      expect(idx.dims).toEqual([2, 28, 28]);
      expect(idx.data.length).toBe(2 * 784);
      expect(idx.data[100]).toBe(7);
    }
  });

  it('rejects a bad magic number, an unsupported type, a truncated payload and corrupt gzip', () => {
    const badMagic = images.slice();
    badMagic[0] = 1;
    expect(() => parseIdx(badMagic)).toThrow(/magic/);
    const badType = images.slice();
    badType[2] = 0x0d;
    expect(() => parseIdx(badType)).toThrow(/element type/);
    expect(() => parseIdx(images.subarray(0, images.length - 1))).toThrow(/payload has 1567 bytes/);
    expect(() => parseIdx(images.subarray(0, 10))).toThrow(/truncated header/);
    const gz = gzipSync(images);
    expect(() => parseIdx(gz.subarray(0, gz.length - 20))).toThrow(IdxFormatError);
  });

  it('loads a directory of IDX files and checks labels and shapes', () => {
    const dir = tempDir();
    const n = 60;
    const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
    const pix = new Uint8Array(n * 784);
    writeFileSync(join(dir, 'train-images-idx3-ubyte'), encodeIdx([n, 28, 28], pix));
    writeFileSync(join(dir, 'train-labels-idx1-ubyte.gz'), gzipSync(encodeIdx([n], labels)));
    writeFileSync(join(dir, 't10k-images-idx3-ubyte'), encodeIdx([20, 28, 28], new Uint8Array(20 * 784)));
    writeFileSync(
      join(dir, 't10k-labels-idx1-ubyte'),
      encodeIdx(
        [20],
        Uint8Array.from({ length: 20 }, (_, i) => i % 10),
      ),
    );
    const data = loadDataset(dir);
    expect(data.splits.train.count).toBe(50);
    expect(data.splits.valid.count).toBe(10);
    expect(data.splits.test.count).toBe(20);

    const bad = tempDir();
    mkdirSync(bad, { recursive: true });
    writeFileSync(join(bad, 'train-images-idx3-ubyte'), encodeIdx([n, 28, 28], pix));
    writeFileSync(
      join(bad, 'train-labels-idx1-ubyte'),
      encodeIdx(
        [n],
        labels.map((l) => (l === 3 ? 12 : l)),
      ),
    );
    writeFileSync(join(bad, 't10k-images-idx3-ubyte'), encodeIdx([20, 28, 28], new Uint8Array(20 * 784)));
    writeFileSync(join(bad, 't10k-labels-idx1-ubyte'), encodeIdx([20], new Uint8Array(20)));
    // labels 0..12 make 13 classes, and the classes 3, 10 and 11 have no image
    expect(() => loadDataset(bad)).toThrow(/the train split has no image of class "3" \(label 3\)/);
    const wrongSize = tempDir();
    writeFileSync(join(wrongSize, 'train-images-idx3-ubyte'), encodeIdx([n, 32, 32], new Uint8Array(n * 1024)));
    writeFileSync(join(wrongSize, 'train-labels-idx1-ubyte'), encodeIdx([n], labels));
    expect(() => loadDataset(wrongSize)).toThrow(/28 x 28/);
  });

  it('vendors MNIST with matching checksums and the standard splits', () => {
    const dir = defaultDataDir();
    for (const line of readFileSync(join(dir, 'SHA256SUMS'), 'utf8').trim().split('\n')) {
      const [hash, name] = line.split(/\s+/);
      expect(
        createHash('sha256')
          .update(readFileSync(join(dir, name)))
          .digest('hex'),
      ).toBe(hash);
    }
    const data = loadDataset();
    expect([data.splits.train.count, data.splits.valid.count, data.splits.test.count]).toEqual([50000, 10000, 10000]);
    expect(data.splits.train.byLabel.every((l) => l.length > 4000)).toBe(true);
  });
});
