import { describe, it, expect } from 'vitest';
import { Rng } from '../src/cpc/rng.js';
import { AFFINE_RANGES, drawWarp, warpGrey, type Warp } from '../src/cpc/augment.js';
import { resizeGrey, digitPixels } from '../src/cpc/images.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { SequenceBatcher } from '../src/cpc/batches.js';
import { batchSpec } from '../src/cpc/trainer.js';
import { resolveConfig } from '../src/cpc/config.js';

const data = loadDataset();
const texture = proceduralTexture(1234);
const IDENTITY: Warp = { a: 1, b: 0, c: 0, d: 1, dx: 0, dy: 0 };

describe('affine augmentation', () => {
  const digit = digitPixels(data.splits.train, 0);

  // noise up to the edges: the edge pixels matter here (MNIST's are black)
  const noise = Uint8Array.from({ length: 28 * 28 }, (_, i) => (i * 7919) % 256);

  it('with no warp, resamples exactly as the plain resize does, edges included', () => {
    for (const image of [digit, noise]) {
      expect(warpGrey(image, 28, IDENTITY)).toEqual(resizeGrey(image, 28));
      const warped = warpGrey(image, 64, IDENTITY, 1 / 255);
      const plain = resizeGrey(image, 64, 1 / 255);
      for (let i = 0; i < plain.length; i++) expect(warped[i]).toBeCloseTo(plain[i], 5);
    }
  });

  it('moves the image by a whole-pixel shift; uncovered pixels repeat the edge', () => {
    // the inverse map: an output pixel samples 2 pixels left and 1 above
    const out = warpGrey(noise, 28, { ...IDENTITY, dx: -2, dy: -1 });
    for (let y = 0; y < 28; y++)
      for (let x = 0; x < 28; x++) expect(out[y * 28 + x]).toBe(noise[Math.max(y - 1, 0) * 28 + Math.max(x - 2, 0)]);
    // an evenly bright image stays evenly bright under any warp: no black wedges
    const bright = new Uint8Array(28 * 28).fill(200);
    const rng = new Rng(4);
    for (let i = 0; i < 20; i++) for (const v of warpGrey(bright, 64, drawWarp(rng))) expect(v).toBeCloseTo(200, 3);
  });

  it('rotates about the centre: a quarter turn maps the top row to a side column', () => {
    const bar = new Uint8Array(28 * 28);
    for (let x = 4; x < 24; x++) bar[4 * 28 + x] = 255; // a horizontal bar, 10 rows above the centre
    // a pixel at (u, v) from the centre samples (v, -u): the bar at v = -9.5 appears at u = +9.5 (the right)
    const out = warpGrey(bar, 28, { a: 0, b: 1, c: -1, d: 0, dx: 0, dy: 0 });
    for (let y = 4; y < 24; y++) expect(out[y * 28 + 23]).toBe(255);
    expect(out.reduce((a, b) => a + b, 0)).toBe(20 * 255);
  });

  it('draws warps inside the stated ranges, the same for the same seed', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 500; i++) {
      const w = drawWarp(rng);
      const inverseScale = Math.sqrt(w.a * w.d - w.b * w.c); // 1 / scale
      expect(1 / inverseScale).toBeGreaterThanOrEqual(1 - AFFINE_RANGES.scale - 1e-9);
      expect(1 / inverseScale).toBeLessThanOrEqual(1 + AFFINE_RANGES.scale + 1e-9);
      const angle = (Math.atan2(w.b, w.a) * 180) / Math.PI;
      expect(Math.abs(angle)).toBeLessThanOrEqual(AFFINE_RANGES.rotation + 1e-9);
      // the forward shift is -A^-1 · offset; its size is within the square of shifts
      const shift = Math.hypot(w.dx, w.dy) / inverseScale;
      expect(shift).toBeLessThanOrEqual(Math.SQRT2 * AFFINE_RANGES.shift + 1e-9);
    }
    expect(drawWarp(new Rng(8))).toEqual(drawWarp(new Rng(8)));
  });

  it('warps training batches only: validation batches of an augmented run are the plain ones', () => {
    const config = resolveConfig({ augment: 'affine', batchSize: 4, imageSize: 28, color: 'grey' });
    const draw = (augment: 'none' | 'affine') => new SequenceBatcher(data, texture, 5).next('train', batchSpec(config, 'grey', augment));
    const trained = draw('affine');
    expect(trained.context).not.toEqual(draw('none').context);
    expect(trained.context).toEqual(draw('affine').context); // seeded
    expect(Math.min(...trained.context)).toBeGreaterThanOrEqual(-1);
    expect(Math.max(...trained.context)).toBeLessThanOrEqual(1);
    // what validate() and the study scripts draw: batchSpec without an augmentation
    expect(batchSpec(config, config.color).augment).toBe('none');
  });
});
