/**
 * "Same Idempotency-Key while the first request is in flight -> 409"
 * (draft-ietf-httpapi-idempotency-key-header): a short Redis lock per key,
 * taken before the request does anything and released when it answers.
 * Redis being away does not block submissions: the Postgres unique key still
 * makes one job per key, only the in-flight 409 is lost meanwhile.
 */
import { randomUUID } from 'node:crypto';
import { sha256Hex } from '../lib/hash.js';
import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function idempotencyLockKey(prefix: string, key: string): string {
  return `${prefix}:idempotency:${sha256Hex(key)}`;
}

export type Lock = { release(): Promise<void> } | 'busy';

export async function lockIdempotencyKey(redis: Redis, prefix: string, key: string, ttlMs = 30_000): Promise<Lock> {
  const name = idempotencyLockKey(prefix, key);
  const token = randomUUID();
  try {
    if ((await redis.set(name, token, 'PX', ttlMs, 'NX')) !== 'OK') return 'busy';
  } catch {
    return { release: async () => undefined };
  }
  return {
    release: async () => {
      await redis.eval(RELEASE, 1, name, token).catch(() => undefined);
    },
  };
}
