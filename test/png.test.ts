/** PNG inputs: the image data must inflate to exactly what the header implies (interlaced or not). */
import { describe, it, expect } from 'vitest';
import { craftPng } from './service/crafted-pngs.js';
import { ADAM7, decodePng, encodePng, inflatedSize } from '../src/cpc/png.js';

/** an 8-bit grey PNG (side x side), Adam7-interlaced when asked, with the given image data */
const greyPng = (side: number, interlace: 0 | 1, data: Buffer) => craftPng(side, side, 8, 0, data, interlace);

/** the raw (filter type 0) scanlines of an image, plain or as the seven Adam7 passes */
function scanlines(side: number, pixel: (x: number, y: number) => number, interlace: 0 | 1): Buffer {
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1]];
  const bytes: number[] = [];
  for (const [x0, y0, dx, dy] of passes) {
    for (let y = y0; y < side; y += dy) {
      if (x0 >= side) continue;
      bytes.push(0);
      for (let x = x0; x < side; x += dx) bytes.push(pixel(x, y));
    }
  }
  return Buffer.from(bytes);
}

describe('PNG image data', () => {
  const pixel = (x: number, y: number) => (x * 7 + y * 13) % 256;

  it('decodes an Adam7-interlaced PNG to the same pixels as a plain one', () => {
    for (const side of [28, 64, 5, 1]) {
      const plain = decodePng(greyPng(side, 0, scanlines(side, pixel, 0)));
      const interlaced = decodePng(greyPng(side, 1, scanlines(side, pixel, 1)));
      expect(interlaced.rgb).toEqual(plain.rgb);
      expect(plain.rgb[3 * (side * (side - 1))]).toBe(pixel(0, side - 1));
      expect(inflatedSize({ width: side, height: side, bitDepth: 8, colorType: 0, interlace: 1 })).toBe(scanlines(side, pixel, 1).length);
    }
  });

  it('refuses image data that inflates beyond the header (a zip bomb), interlaced or not', () => {
    const bomb = Buffer.alloc(50 * 1024 * 1024); // 50 MiB of zeros deflate to ~50 KB
    for (const interlace of [0, 1] as const) expect(() => decodePng(greyPng(28, interlace, bomb))).toThrow(/inflates to more than/);
  });

  it('refuses image data shorter than the header implies (it would decode as garbage)', () => {
    expect(() => decodePng(greyPng(28, 0, Buffer.alloc(10)))).toThrow(/image data is 10 bytes/);
    expect(() => decodePng(greyPng(28, 1, Buffer.alloc(10)))).toThrow(/image data is 10 bytes/);
  });

  it('still decodes what it encodes', () => {
    const rgb = Uint8Array.from({ length: 28 * 28 * 3 }, (_, i) => i % 256);
    expect(decodePng(encodePng(28, 28, rgb)).rgb).toEqual(rgb);
  });
});
