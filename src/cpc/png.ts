/**
 * PNG decoding for inference inputs, with the header checked before any
 * pixel is decoded: a tiny file can declare a huge image, and decoding one
 * costs time on the thread that does it. Callers say which sizes they take.
 */
import { PNG } from 'pngjs';

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
}

export function pngHeader(bytes: Uint8Array): PngHeader {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new ImageInputError('not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunkType !== 'IHDR') throw new ImageInputError('not a PNG file (first chunk is not IHDR)');
  return { width: view.getUint32(16), height: view.getUint32(20), bitDepth: bytes[24], colorType: bytes[25] };
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
  const { width, height, bitDepth, colorType } = pngHeader(bytes);
  if (!BIT_DEPTHS[colorType]?.includes(bitDepth)) throw new ImageInputError(`not a valid PNG (colour type ${colorType} with bit depth ${bitDepth})`);
  if (width < 1 || height < 1 || width > maxSide || height > maxSide) {
    throw new ImageInputError(`PNG is ${width}x${height}; at most ${maxSide}x${maxSide} is accepted`);
  }
  if (sides && !(sides.includes(width) && sides.includes(height))) {
    throw new ImageInputError(`PNG is ${width}x${height}; expected ${[...new Set(sides)].map((n) => `${n}x${n}`).join(' or ')}`);
  }
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (err) {
    throw new ImageInputError(`corrupt or truncated PNG (${(err as Error).message})`);
  }
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
