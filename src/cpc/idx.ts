/**
 * Reader for the IDX format used by MNIST (big-endian header, then raw rows),
 * gzip-compressed or raw. Validates the magic number, the element type, the
 * dimensions and that the payload length matches them. Elements are unsigned
 * bytes (images, labels of up to 256 classes) or big-endian 16-bit integers
 * (labels of more classes).
 */
import { gunzipSync } from 'node:zlib';
import { readFileSync } from 'node:fs';

export interface IdxArray {
  dims: number[];
  /** the element type: 8-bit unsigned or 16-bit signed */
  type: 'uint8' | 'int16';
  /** the payload as stored (for int16, two big-endian bytes an element) */
  data: Uint8Array;
}

/** a data set's content is not what its format requires (a client's mistake: the message says what and where) */
export class DatasetError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'DatasetError';
  }
}

export class IdxFormatError extends DatasetError {
  constructor(source: string, message: string) {
    super(`${source}: ${message}`);
    this.name = 'IdxFormatError';
  }
}

const UNSIGNED_BYTE = 0x08;
const SHORT = 0x0b;
const TYPES = { [UNSIGNED_BYTE]: { name: 'uint8', bytes: 1 }, [SHORT]: { name: 'int16', bytes: 2 } } as const;

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
  if (type !== UNSIGNED_BYTE && type !== SHORT)
    throw new IdxFormatError(source, `unsupported element type 0x${type.toString(16)} (only 0x08 unsigned byte and 0x0b short)`);
  const element = TYPES[type];
  if (rank < 1 || rank > 4) throw new IdxFormatError(source, `unsupported rank ${rank}`);
  const headerBytes = 4 + 4 * rank;
  if (raw.length < headerBytes) throw new IdxFormatError(source, 'truncated header');
  const dims: number[] = [];
  for (let i = 0; i < rank; i++) dims.push(view.getUint32(4 + 4 * i));
  const expected = dims.reduce((a, b) => a * b, 1) * element.bytes;
  const actual = raw.length - headerBytes;
  if (actual !== expected) {
    throw new IdxFormatError(source, `payload has ${actual} bytes but dimensions [${dims.join(', ')}] need ${expected}`);
  }
  return { dims, type: element.name, data: raw.subarray(headerBytes) };
}

/** the elements of an integer IDX array (labels) as numbers 0..65535; a negative one is an error */
export function idxIntegers(idx: IdxArray, source = 'IDX data'): Uint16Array {
  if (idx.type === 'uint8') return Uint16Array.from(idx.data);
  const view = new DataView(idx.data.buffer, idx.data.byteOffset, idx.data.byteLength);
  const out = new Uint16Array(idx.data.length / 2);
  for (let i = 0; i < out.length; i++) {
    const v = view.getInt16(i * 2);
    if (v < 0) throw new IdxFormatError(source, `element ${i} is negative (${v})`);
    out[i] = v;
  }
  return out;
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

/** Encode an IDX array: unsigned bytes, or (a Uint16Array, values below 32768) 16-bit integers. */
export function encodeIdx(dims: number[], data: Uint8Array | Uint16Array): Uint8Array {
  const wide = data instanceof Uint16Array;
  const header = new Uint8Array(4 + 4 * dims.length);
  const view = new DataView(header.buffer);
  header[2] = wide ? SHORT : UNSIGNED_BYTE;
  header[3] = dims.length;
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d));
  const out = new Uint8Array(header.length + data.length * (wide ? 2 : 1));
  out.set(header, 0);
  if (!wide) out.set(data, header.length);
  else {
    const body = new DataView(out.buffer, header.length);
    data.forEach((v, i) => body.setInt16(i * 2, v));
  }
  return out;
}
