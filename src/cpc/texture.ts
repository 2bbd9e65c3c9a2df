/**
 * Procedurally generated background texture (replaces the seed's Lena photo):
 * a sum of bilinearly upsampled random colour grids at several scales, so
 * crops have both smooth colour gradients and finer detail. Deterministic by seed.
 */
import { Rng } from './rng.js';

export const TEXTURE_SIDE = 256;

export interface Texture {
  side: number;
  /** side x side x 3, values in [0, 1] */
  rgb: Float32Array;
}

function addOctave(out: Float32Array, side: number, cells: number, weight: number, rng: Rng): void {
  const grid = new Float32Array((cells + 1) * (cells + 1) * 3);
  for (let i = 0; i < grid.length; i++) grid[i] = rng.uniform();
  const scale = cells / side;
  for (let y = 0; y < side; y++) {
    const gy = y * scale;
    const y0 = Math.floor(gy);
    const fy = gy - y0;
    for (let x = 0; x < side; x++) {
      const gx = x * scale;
      const x0 = Math.floor(gx);
      const fx = gx - x0;
      for (let c = 0; c < 3; c++) {
        const g = (yy: number, xx: number) => grid[(yy * (cells + 1) + xx) * 3 + c];
        const top = g(y0, x0) * (1 - fx) + g(y0, x0 + 1) * fx;
        const bottom = g(y0 + 1, x0) * (1 - fx) + g(y0 + 1, x0 + 1) * fx;
        out[(y * side + x) * 3 + c] += weight * (top * (1 - fy) + bottom * fy);
      }
    }
  }
}

export function proceduralTexture(seed: number, side = TEXTURE_SIDE): Texture {
  const rng = new Rng(seed);
  const rgb = new Float32Array(side * side * 3);
  const octaves: Array<[cells: number, weight: number]> = [
    [4, 0.45],
    [16, 0.35],
    [64, 0.2],
  ];
  for (const [cells, weight] of octaves) addOctave(rgb, side, cells, weight, rng);
  // stretch to the full [0, 1] range per channel
  for (let c = 0; c < 3; c++) {
    let lo = Infinity;
    let hi = -Infinity;
    for (let i = c; i < rgb.length; i += 3) {
      lo = Math.min(lo, rgb[i]);
      hi = Math.max(hi, rgb[i]);
    }
    const span = hi - lo || 1;
    for (let i = c; i < rgb.length; i += 3) rgb[i] = (rgb[i] - lo) / span;
  }
  return { side, rgb };
}
