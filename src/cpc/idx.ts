/**
 * Reader for the IDX format used by MNIST (big-endian header, then raw rows),
 * gzip-compressed or raw. Validates the magic number, the element type, the
 * dimensions and that the payload length matches them.
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

export interface IdxArray {
  dims: number[];
  data: Uint8Array;
}

export class IdxFormatError extends Error {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'IdxFormatError';
  }
}

const UNSIGNED_BYTE = 0x08;

export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  let raw = bytes;
  if (raw.length >= 2 && raw[0] === 0x1f && raw[1] === 0x8b) {
    try {
      raw = gunzipSync(raw);
    } catch (err) {
      throw new IdxFormatError(source, `corrupt gzip stream (${(err as Error).message})`);
    }
  }
  if (raw.length < 4) throw new IdxFormatError(source, `too short for an IDX header (${raw.length} bytes)`);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  if (view.getUint16(0) !== 0) throw new IdxFormatError(source, 'bad magic number (first two bytes must be zero)');
  const type = raw[2];
  const rank = raw[3];
  if (type !== UNSIGNED_BYTE) throw new IdxFormatError(source, `unsupported element type 0x${type.toString(16)} (only unsigned byte)`);
  if (rank < 1 || rank > 4) throw new IdxFormatError(source, `unsupported rank ${rank}`);
  const headerBytes = 4 + 4 * rank;
  if (raw.length < headerBytes) throw new IdxFormatError(source, 'truncated header');
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1);
  const actual = raw.length - headerBytes;
  if (actual !== expected) {
    throw new IdxFormatError(source, `payload has ${actual} bytes but dimensions [${dims.join(', ')}] need ${expected}`);
  }
  return { dims, data: raw.subarray(headerBytes) };
}

export function readIdxFile(path: string): IdxArray {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new IdxFormatError(path, `cannot read file (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  return parseIdx(bytes, path);
}

/** Encode an IDX uint8 array (used by tests and to write small fixture data sets). */
export function encodeIdx(dims: number[], data: Uint8Array): Uint8Array {
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header[2] = UNSIGNED_BYTE;
  header[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.length + data.length);
  out.set(header, 0);
  out.set(data, header.length);
  return out;
}
