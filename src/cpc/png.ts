/**
 * PNG decoding for inference inputs, with the header checked before any
 * pixel is decoded (a tiny PNG can declare a huge image).
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

export function pngSize(bytes: Uint8Array): { width: number; height: number } {
  if (bytes.length < 33 || SIGNATURE.some((b, i) => bytes[i] !== b)) throw new ImageInputError('not a PNG file (bad signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = String.fromCharCode(...bytes.subarray(12, 16));
  if (chunkType !== 'IHDR') throw new ImageInputError('not a PNG file (first chunk is not IHDR)');
  return { width: view.getUint32(16), height: view.getUint32(20) };
}

/** Decode to RGB bytes (alpha composited on black), after checking the declared size. */
export function decodePng(bytes: Uint8Array, maxSide = MAX_PNG_SIDE): { width: number; height: number; rgb: Uint8Array } {
  const { width, height } = pngSize(bytes);
  if (width < 1 || height < 1 || width > maxSide || height > maxSide) {
    throw new ImageInputError(`PNG is ${width}x${height}; at most ${maxSide}x${maxSide} is accepted`);
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
