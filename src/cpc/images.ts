/**
 * Per-image pipeline: 28x28 uint8 digit -> (optionally) bilinear upscale ->
 * RGB, grey or colourised on a textured background -> values in [-1, 1], NHWC.
 */
import type { Rng } from './rng.js';
import type { Texture } from './texture.js';
import { IMAGE_SIDE, IMAGE_PIXELS, type ImageSplit } from './dataset.js';
import { warpGrey, type Warp } from './augment.js';

export type ColorMode = 'grey' | 'color';

export interface ImageStyle {
  imageSize: number;
  color: ColorMode;
}

interface AxisTable {
  lo: Int32Array;
  hi: Int32Array;
  frac: Float32Array;
}

/** Half-pixel-centre bilinear sampling positions (as torch align_corners=False / tf halfPixelCenters). */
function axisTable(inSize: number, outSize: number): AxisTable {
  const lo = new Int32Array(outSize);
  const hi = new Int32Array(outSize);
  const frac = new Float32Array(outSize);
  const scale = inSize / outSize;
  for (let i = 0; i < outSize; i++) {
    const src = Math.max(0, (i + 0.5) * scale - 0.5);
    const l = Math.min(Math.floor(src), inSize - 1);
    lo[i] = l;
    hi[i] = Math.min(l + 1, inSize - 1);
    frac[i] = src - l;
  }
  return { lo, hi, frac };
}

const tables = new Map<number, AxisTable>();
function tableFor(outSize: number): AxisTable {
  let t = tables.get(outSize);
  if (!t) tables.set(outSize, (t = axisTable(IMAGE_SIDE, outSize)));
  return t;
}

/** Bilinear resize of a 28x28 grey image (values 0..1) to size x size. */
export function resizeGrey(src: Float32Array | Uint8Array, size: number, scale = 1): Float32Array {
  const out = new Float32Array(size * size);
  if (size === IMAGE_SIDE) {
    for (let i = 0; i < IMAGE_PIXELS; i++) out[i] = src[i] * scale;
    return out;
  }
  const t = tableFor(size);
  for (let y = 0; y < size; y++) {
    const r0 = t.lo[y] * IMAGE_SIDE;
    const r1 = t.hi[y] * IMAGE_SIDE;
    const fy = t.frac[y];
    for (let x = 0; x < size; x++) {
      const c0 = t.lo[x];
      const c1 = t.hi[x];
      const fx = t.frac[x];
      const top = src[r0 + c0] * (1 - fx) + src[r0 + c1] * fx;
      const bottom = src[r1 + c0] * (1 - fx) + src[r1 + c1] * fx;
      out[y * size + x] = (top * (1 - fy) + bottom * fy) * scale;
    }
  }
  return out;
}

/**
 * Write one styled image (size x size x 3, values in [-1, 1]) into `out` at `offset`, warped by
 * `warp` when given (training augmentation, ./augment.ts). Grey mode uses no randomness; colour
 * mode draws a crop position and a colour shift.
 */
export function renderDigit(
  grey28: Uint8Array,
  style: ImageStyle,
  texture: Texture,
  rng: Rng,
  out: Float32Array,
  offset: number,
  warp?: Warp,
): void {
  const size = style.imageSize;
  const grey = warp ? warpGrey(grey28, size, warp, 1 / 255) : resizeGrey(grey28, size, 1 / 255);
  if (style.color === 'grey') {
    for (let i = 0; i < size * size; i++) {
      const v = grey[i] * 2 - 1;
      const o = offset + i * 3;
      out[o] = v;
      out[o + 1] = v;
      out[o + 2] = v;
    }
    return;
  }
  const top = rng.int(texture.side - size + 1);
  const left = rng.int(texture.side - size + 1);
  const shift = [rng.uniform(), rng.uniform(), rng.uniform()];
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const ink = grey[y * size + x] >= 0.5;
      const t = ((top + y) * texture.side + (left + x)) * 3;
      const o = offset + (y * size + x) * 3;
      for (let c = 0; c < 3; c++) {
        const bg = (texture.rgb[t + c] + shift[c]) / 2;
        out[o + c] = (ink ? 1 - bg : bg) * 2 - 1;
      }
    }
  }
}

export function digitPixels(split: ImageSplit, index: number): Uint8Array {
  return split.images.subarray(index * IMAGE_PIXELS, (index + 1) * IMAGE_PIXELS);
}

/** Render the images at `indices` of a split into one NHWC Float32Array. */
export function renderImages(split: ImageSplit, indices: ArrayLike<number>, style: ImageStyle, texture: Texture, rng: Rng): Float32Array {
  const per = style.imageSize * style.imageSize * 3;
  const out = new Float32Array(indices.length * per);
  for (let i = 0; i < indices.length; i++) renderDigit(digitPixels(split, indices[i]), style, texture, rng, out, i * per);
  return out;
}
