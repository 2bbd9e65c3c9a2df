/**
 * Training-time augmentation of a 28x28 image: a small random affine warp (rotation, scale,
 * shift) drawn per image, applied while the image is resampled to its training size. Validation,
 * test, probe and inference images are never warped.
 */
import type { Rng } from './rng.js';
import { IMAGE_SIDE } from './dataset.js';

export type Augment = 'none' | 'affine';

/** the ranges of `affine`: each draw is uniform within them */
export const AFFINE_RANGES = {
  /** degrees either way */
  rotation: 10,
  /** scale factor in [1 - scale, 1 + scale] */
  scale: 0.1,
  /** pixels of the 28x28 image, either way, on each axis */
  shift: 2,
} as const;

/** where an output pixel's centre samples its source: source = A * (output - centre) + centre + offset */
export interface Warp {
  a: number;
  b: number;
  c: number;
  d: number;
  dx: number;
  dy: number;
}

const between = (rng: Rng, half: number) => (rng.uniform() * 2 - 1) * half;

/** A random warp in AFFINE_RANGES, as the inverse map from the output to the source image. */
export function drawWarp(rng: Rng): Warp {
  const angle = (between(rng, AFFINE_RANGES.rotation) * Math.PI) / 180;
  const scale = 1 + between(rng, AFFINE_RANGES.scale);
  const shiftX = between(rng, AFFINE_RANGES.shift);
  const shiftY = between(rng, AFFINE_RANGES.shift);
  // the image is rotated by `angle`, scaled by `scale` and moved by the shift; a pixel of the
  // result samples the source at the inverse of that
  const cos = Math.cos(angle) / scale;
  const sin = Math.sin(angle) / scale;
  return { a: cos, b: sin, c: -sin, d: cos, dx: -(cos * shiftX + sin * shiftY), dy: -(-sin * shiftX + cos * shiftY) };
}

/**
 * A 28x28 grey image (0..255 or 0..1, times `scale`) warped and resampled to size x size by
 * bilinear sampling at half-pixel centres; outside the source, its nearest edge pixel (as the
 * plain resize does, so an image whose background is not black gets no black wedges).
 */
export function warpGrey(src: Uint8Array | Float32Array, size: number, warp: Warp, scale = 1): Float32Array {
  const out = new Float32Array(size * size);
  const side = IMAGE_SIDE; // (a local: an imported binding read in the inner loop costs a call under tsx)
  const step = side / size;
  const centre = side / 2;
  const last = side - 1;
  const at = (x: number, y: number) => src[(y < 0 ? 0 : y > last ? last : y) * side + (x < 0 ? 0 : x > last ? last : x)];
  for (let oy = 0; oy < size; oy++) {
    const v = (oy + 0.5) * step - centre;
    for (let ox = 0; ox < size; ox++) {
      const u = (ox + 0.5) * step - centre;
      // continuous source position of this pixel's centre, then to pixel-index space
      const sx = warp.a * u + warp.b * v + warp.dx + centre - 0.5;
      const sy = warp.c * u + warp.d * v + warp.dy + centre - 0.5;
      const x0 = Math.floor(sx);
      const y0 = Math.floor(sy);
      const fx = sx - x0;
      const fy = sy - y0;
      const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
      const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
      out[oy * size + ox] = (top * (1 - fy) + bottom * fy) * scale;
    }
  }
  return out;
}
