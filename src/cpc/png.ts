/**
 * PNG decoding for inference inputs, with the header checked before any
 * pixel is decoded: a tiny file can declare a huge image, and decoding one
 * costs time on the thread that does it. Callers say which sizes they take.
 * The image data must then inflate to exactly the size the header implies
 * (never more: no zip bombs; never less: no decoding of garbage).
 */
import { PNG } from 'pngjs';
import { inflateSync } from 'node:zlib';

export const MAX_PNG_SIDE = 1024;
const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

export class ImageInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ImageInputError';
  }
}

/** the bit depths the PNG specification allows for each colour type */
const BIT_DEPTHS: Record<number, number[]> = { 0: [1, 2, 4, 8, 16], 2: [8, 16], 3: [1, 2, 4, 8], 4: [8, 16], 6: [8, 16] };

export interface PngHeader {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  /** 0: none, 1: Adam7 */
  interlace: number;
}

const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
/** Adam7 passes: x0, y0, dx, dy (the PNG specification's table) */
export const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
];

/** the exact size of a PNG's decompressed image data (filter bytes included), from its header */
export function inflatedSize({ width, height, bitDepth, colorType, interlace }: PngHeader): number {
  const bits = bitDepth * CHANNELS[colorType];
  const rows = (w: number, h: number) => (w > 0 && h > 0 ? h * (1 + Math.ceil((w * bits) / 8)) : 0);
  if (!interlace) return rows(width, height);
  return ADAM7.reduce((n, [x0, y0, dx, dy]) => n + rows(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy)), 0);
}

/**
 * The image data of a PNG, inflated with a hard limit: exactly as many bytes as the header
 * implies, or an ImageInputError. (pngjs bounds the output for plain images but not for
 * interlaced ones, so a small file of compressed zeros could make it allocate gigabytes; and
 * data that is too short it decodes as garbage.)
 */
function checkImageData(bytes: Uint8Array, header: PngHeader): void {
  const expected = inflatedSize(header);
  const parts: Uint8Array[] = [];
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = 8; at + 8 <= bytes.length;) {
    const length = view.getUint32(at);
    const type = String.fromCharCode(...bytes.subarray(at + 4, at + 8));
    if (at + 12 + length > bytes.length) throw new ImageInputError('corrupt or truncated PNG (a chunk runs past the end of the file)');
    // the header checked is the first; pngjs would decode with the last one (a 28x28 header and then a
    // 20000x20000 one made it allocate gigabytes)
    if (type === 'IHDR' && at !== 8) throw new ImageInputError('not a valid PNG (a second IHDR chunk)');
    if (type === 'IDAT') parts.push(bytes.subarray(at + 8, at + 8 + length));
    if (type === 'IEND') break;
    at += 12 + length;
  }
  let inflated: Buffer;
  try {
    inflated = inflateSync(Buffer.concat(parts), { maxOutputLength: expected + 1 });
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_BUFFER_TOO_LARGE')
      throw new ImageInputError(`corrupt PNG: its image data inflates to more than the ${expected} bytes its header implies`);
    throw new ImageInputError(`corrupt or truncated PNG (${(err as Error).message})`);
  }
  if (inflated.length !== expected)
    throw new ImageInputError(`corrupt PNG: its image data is ${inflated.length} bytes, its header implies ${expected}`);
}

export function pngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new ImageInputError('not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunkType !== 'IHDR') throw new ImageInputError('not a PNG file (first chunk is not IHDR)');
  return { width: view.getUint32(16), height: view.getUint32(20), bitDepth: bytes[24], colorType: bytes[25], interlace: bytes[28] };
}

export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  const { width, height } = pngHeader(bytes);
  return { width, height };
}

/**
 * Decode to RGB bytes (alpha composited on black). The header is checked
 * first: a valid colour type and bit depth, and a size within `maxSide`, or
 * one of `sides` when given (width and height each one of them).
 */
export function decodePng(bytes: Uint8Array, maxSide = MAX_PNG_SIDE, sides?: number[]): { width: number; height: number; rgb: Uint8Array } {
  const header = pngHeader(bytes);
  const { width, height, bitDepth, colorType } = header;
  if (!BIT_DEPTHS[colorType]?.includes(bitDepth))
    throw new ImageInputError(`not a valid PNG (colour type ${colorType} with bit depth ${bitDepth})`);
  if (header.interlace > 1) throw new ImageInputError(`not a valid PNG (interlace method ${header.interlace})`);
  if (width < 1 || height < 1 || width > maxSide || height > maxSide) {
    throw new ImageInputError(`PNG is ${width}x${height}; at most ${maxSide}x${maxSide} is accepted`);
  }
  if (sides && !(sides.includes(width) && sides.includes(height))) {
    throw new ImageInputError(`PNG is ${width}x${height}; expected ${[...new Set(sides)].map((n) => `${n}x${n}`).join(' or ')}`);
  }
  checkImageData(bytes, header);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new ImageInputError(`corrupt or truncated PNG (${(err as Error).message})`);
  }
  if (png.width !== width || png.height !== height)
    throw new ImageInputError(`corrupt PNG: it decodes to ${png.width}x${png.height}, its header says ${width}x${height}`);
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    const a = png.data[i * 4 + 3] / 255;
    for (let c = 0; c < 3; c++) rgb[i * 3 + c] = Math.round(png.data[i * 4 + c] * a);
  }
  return { width, height, rgb };
}

export function encodePng(width: number, height: number, rgb: Uint8Array): Buffer {
  const png = new PNG({ width, height });
  for (let i = 0; i < width * height; i++) {
    png.data[i * 4] = rgb[i * 3];
    png.data[i * 4 + 1] = rgb[i * 3 + 1];
    png.data[i * 4 + 2] = rgb[i * 3 + 2];
    png.data[i * 4 + 3] = 255;
  }
  return PNG.sync.write(png);
}
