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
import { HttpError } from './plugins/errors.js';

const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;

export function idempotencyLockKey(prefix: string, key: string): string {
  return `${prefix}:idempotency:${sha256Hex(key)}`;
}

export type Lock = { release(): Promise<void> } | 'busy';

async function lockIdempotencyKey(redis: Redis, prefix: string, key: string, ttlMs = 30_000): Promise<Lock> {
  const name = idempotencyLockKey(prefix, key);
  const token = randomUUID();
  const release = () => redis.eval(RELEASE, 1, name, token);
  try {
    if ((await redis.set(name, token, 'PX', ttlMs, 'NX')) !== 'OK') return 'busy';
  } catch {
    // Redis did not answer in time; the SET may still reach it (a frozen Redis runs what it was sent
    // once it wakes), and would then hold the key for ttlMs with nobody to release it: keep trying
    // to release it, for as long as the lock could live (only our own token is ever deleted)
    return { release: async () => void releaseLater(release, ttlMs) };
  }
  return { release: async () => void (await release().catch(() => undefined)) };
}

/**
 * Release every 2 s until a release deletes the key or `withinMs` (the lock's lifetime) has passed:
 * a late SET may land after a release that found nothing, so "nothing to delete" is tried again.
 */
function releaseLater(release: () => Promise<unknown>, withinMs: number): void {
  const until = Date.now() + withinMs;
  const again = () => {
    if (Date.now() < until) setTimeout(attempt, 2000).unref();
  };
  const attempt = () => void release().then((deleted) => (deleted === 1 ? undefined : again()), again);
  attempt();
}

/**
 * Run `f` holding the lock of `name` (an owner's key, namespaced by the caller), or without one
 * when the request has no key; a key still held by a request in flight is 409.
 */
export async function whileHoldingKey<T>(redis: Redis, prefix: string, name: string | undefined, f: () => Promise<T>): Promise<T> {
  const lock = name === undefined ? null : await lockIdempotencyKey(redis, prefix, name);
  if (lock === 'busy')
    throw new HttpError(
      409,
      'a request with this Idempotency-Key is still in progress; repeat it once that one has been answered',
      undefined,
      {
        code: 'idempotency_key_in_flight',
      },
    );
  try {
    return await f();
  } finally {
    await lock?.release();
  }
}
