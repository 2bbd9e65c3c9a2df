/** PNG files built by hand for the attack tests: headers that lie, and large images in tiny files. */
import { crc32, deflateSync } from 'node:zlib';

const SIGNATURE = Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]);

export function pngChunk(type: string, data: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type, 'latin1'), data]);
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(body));
  return Buffer.concat([len, body, crc]);
}

/** a PNG with the given header fields whose image data (IDAT) is `data`, deflated */
export function craftPng(width: number, height: number, bitDepth: number, colorType: number, data: Buffer, interlace: 0 | 1 = 0): Buffer {
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([bitDepth, colorType, 0, 0, interlace], 8);
  return Buffer.concat([SIGNATURE, pngChunk('IHDR', ihdr), pngChunk('IDAT', deflateSync(data)), pngChunk('IEND', Buffer.alloc(0))]);
}

/** a tiny, well-formed PNG that declares width x height (8-bit grey) but carries almost no data */
export function pngDeclaring(width: number, height: number): Buffer {
  return craftPng(width, height, 8, 0, Buffer.alloc(16));
}

/** a real (decodable) PNG of zeros: side x side, 16-bit RGBA, a few KB however large the image */
export function png16Rgba(side: number): Buffer {
  return craftPng(side, side, 16, 6, Buffer.alloc(side * (1 + side * 8)));
}
