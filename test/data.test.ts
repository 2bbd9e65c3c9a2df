import { describe, it, expect } from 'vitest';
import { Rng } from '../src/cpc/rng.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { renderImages, resizeGrey, digitPixels } from '../src/cpc/images.js';
import { sampleSequences } from '../src/cpc/sequences.js';
import { SequenceBatcher } from '../src/cpc/batches.js';

const data = loadDataset();
const texture = proceduralTexture(1234);

describe('seeded RNG', () => {
  it('is deterministic and resumable from its state', () => {
    const a = new Rng(42);
    const first = [a.uniform(), a.uniform()];
    const state = a.getState();
    const next = [a.uniform(), a.int(10)];
    expect(new Rng(42).uniform()).toBe(first[0]);
    const b = Rng.fromState(state);
    expect([b.uniform(), b.int(10)]).toEqual(next);
  });
});

describe('image pipeline', () => {
  it('upscales bilinearly with half-pixel centres', () => {
    const src = new Float32Array(784);
    src[14 * 28 + 14] = 1;
    const out = resizeGrey(src, 64);
    expect(out.length).toBe(4096);
    expect(Math.max(...out)).toBeLessThanOrEqual(1);
    // mass is preserved up to the scale factor (64/28)^2
    const mass = out.reduce((a, b) => a + b, 0);
    expect(mass).toBeCloseTo((64 / 28) ** 2, 0);
  });

  for (const color of ['grey', 'color'] as const) {
    it(`renders ${color} 64x64 RGB images in [-1, 1], deterministic by seed`, () => {
      const idx = [0, 1, 2, 3];
      const a = renderImages(data.splits.train, idx, { imageSize: 64, color }, texture, new Rng(5));
      const b = renderImages(data.splits.train, idx, { imageSize: 64, color }, texture, new Rng(5));
      const c = renderImages(data.splits.train, idx, { imageSize: 64, color }, texture, new Rng(6));
      expect(a.length).toBe(4 * 64 * 64 * 3);
      expect(Math.min(...a)).toBeGreaterThanOrEqual(-1);
      expect(Math.max(...a)).toBeLessThanOrEqual(1);
      expect(a).toEqual(b);
      if (color === 'grey') {
        expect(a).toEqual(c);
        for (let i = 0; i < 4096; i++) expect(a[i * 3]).toBe(a[i * 3 + 2]);
      } else {
        expect(a).not.toEqual(c);
      }
    });
  }

  it('colour mode inverts the background where the digit is inked', () => {
    const rng = new Rng(9);
    const img = renderImages(data.splits.train, [0], { imageSize: 28, color: 'color' }, texture, rng);
    const grey = digitPixels(data.splits.train, 0);
    // re-draw the same crop and shift to get the plain background
    const r2 = new Rng(9);
    const top = r2.int(texture.side - 28 + 1);
    const left = r2.int(texture.side - 28 + 1);
    const shift = [r2.uniform(), r2.uniform(), r2.uniform()];
    for (const p of [0, 14 * 28 + 14, 200, 500]) {
      const y = Math.floor(p / 28);
      const x = p % 28;
      for (let c = 0; c < 3; c++) {
        const bg = (texture.rgb[((top + y) * texture.side + left + x) * 3 + c] + shift[c]) / 2;
        const expected = (grey[p] / 255 >= 0.5 ? 1 - bg : bg) * 2 - 1;
        expect(img[p * 3 + c]).toBeCloseTo(expected, 5);
      }
    }
  });
});

describe('sequence tasks', () => {
  it('sorted: positives count up mod 10, negatives differ at every future step, exact balance', () => {
    const spec = { task: 'sorted' as const, terms: 4, predictTerms: 4 };
    const { digits, labels } = sampleSequences(spec, 64, 0.5, new Rng(1), 10);
    expect(labels.reduce((a, b) => a + b, 0)).toBe(32);
    for (let b = 0; b < 64; b++) {
      const seq = Array.from(digits.subarray(b * 8, b * 8 + 8));
      for (let i = 1; i < 4; i++) expect(seq[i]).toBe((seq[0] + i) % 10);
      for (let i = 4; i < 8; i++) {
        const truth = (seq[0] + i) % 10;
        if (labels[b] === 1) expect(seq[i]).toBe(truth);
        else expect(seq[i]).not.toBe(truth);
      }
    }
    // shuffled: the positives are not all first
    expect(Array.from(labels.subarray(0, 32)).every((l) => l === 1)).toBe(false);
  });

  it('same: positives repeat one digit; negatives change every future digit', () => {
    const { digits, labels } = sampleSequences({ task: 'same', terms: 3, predictTerms: 2 }, 40, 0.5, new Rng(2), 10);
    for (let b = 0; b < 40; b++) {
      const seq = Array.from(digits.subarray(b * 5, b * 5 + 5));
      expect(new Set(seq.slice(0, 3)).size).toBe(1);
      for (const d of seq.slice(3)) {
        if (labels[b] === 1) expect(d).toBe(seq[0]);
        else expect(d).not.toBe(seq[0]);
      }
    }
  });

  it('batches pick images of the requested digits, with shapes of the spec', () => {
    const batcher = new SequenceBatcher(data, texture, 11);
    const spec = {
      task: 'sorted' as const,
      terms: 4,
      predictTerms: 4,
      imageSize: 28,
      color: 'grey' as const,
      batchSize: 6,
      positiveFraction: 0.5,
    };
    const batch = batcher.next('valid', spec);
    expect(batch.context.length).toBe(6 * 4 * 28 * 28 * 3);
    expect(batch.future.length).toBe(6 * 4 * 28 * 28 * 3);
    expect(batch.labels.length).toBe(6);
    const again = new SequenceBatcher(data, texture, 11).next('valid', spec);
    expect(again.context).toEqual(batch.context);
  });
});
