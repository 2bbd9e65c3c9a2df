/** SHA-256 helpers: the one place the service and the engine hash bytes, secrets and values. */
import { createHash } from 'node:crypto';

export function sha256Hex(bytes: Uint8Array | ArrayBuffer | string): string {
  return sha256Digest(bytes).toString('hex');
}

export function sha256Digest(bytes: Uint8Array | ArrayBuffer | string): Buffer {
  return createHash('sha256')
    .update(bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : bytes)
    .digest();
}

/** A SHA-256 fed in pieces (a file read in chunks). */
export function sha256Stream(): { update(chunk: Uint8Array): void; hex(): string } {
  const hash = createHash('sha256');
  return { update: (chunk) => void hash.update(chunk), hex: () => hash.digest('hex') };
}

/** The hash of a JSON value with its object keys sorted: equal for equal values, whatever the key order. */
export function stableHash(value: unknown): string {
  return sha256Hex(JSON.stringify(canonical(value)));
}

function canonical(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(canonical);
  if (value && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    return Object.fromEntries(
      Object.keys(record)
        .sort()
        .map((k) => [k, canonical(record[k])]),
    );
  }
  return value;
}
