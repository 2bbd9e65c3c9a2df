/**
 * The invalid-API-key budget (AUTH_FAILURES_PER_MIN). A key the auth cache
 * does not know costs a database lookup, so an address that keeps sending
 * invalid keys is stopped (429) before the lookup. Many clients may share an
 * address (a NAT, an office), so one of them guessing keys must not lock the
 * others out: past the budget, a key is still checked when
 *   - it was valid lately (the whole key: nobody else can know it), or
 *   - its prefix belongs to a key that is not revoked (prefixes are loaded
 *     from Postgres every 30 s, and again on a miss at most every 5 s, so a
 *     new key works within seconds), and that prefix has not itself been sent
 *     with a wrong secret AUTH_FAILURES_PER_MIN times this minute.
 * A prefix is public (logs, error messages), so the second budget stops a
 * guesser who knows one from costing a lookup per request. Counters live in
 * Redis (shared by the API replicas); while Redis is away they read 0.
 */
import { LRUCache } from 'lru-cache';
import type { Redis } from 'ioredis';
import { activeKeyPrefixes, keyPrefix } from '../store/api-keys.js';
import type { Db } from '../store/db.js';

const REFRESH_MS = 30_000;
const MISS_REFRESH_MS = 5_000;

export class AuthFailureBudget {
  private readonly recentlyValid = new LRUCache<string, true>({ max: 10_000, ttl: 10 * 60_000 });
  private prefixes = new Set<string>();
  private loadedAt = 0;
  private loading: Promise<void> | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly db: Db,
    private readonly redis: Redis,
    private readonly perMinute: number,
    private readonly namespace: string,
  ) {
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), REFRESH_MS);
    this.timer.unref();
  }

  /** whether this key may cost a database lookup from this address */
  async mayVerify(key: string, ip: string): Promise<boolean> {
    if (this.recentlyValid.has(key) || (await this.count(`ip:${ip}`)) < this.perMinute) return true;
    const prefix = keyPrefix(key);
    if (!prefix) return false;
    if (!this.prefixes.has(prefix) && Date.now() - this.loadedAt > MISS_REFRESH_MS) await this.refresh();
    return this.prefixes.has(prefix) && (await this.count(`prefix:${prefix}`)) < this.perMinute;
  }

  succeeded(key: string): void {
    this.recentlyValid.set(key, true);
  }

  /**
   * count an invalid key; whether it is past the budget (429 rather than 401): the address's, or for
   * a live key's prefix, that prefix's (counted atomically: of concurrent invalid requests, those
   * past it say so)
   */
  async failed(key: string, ip: string): Promise<boolean> {
    const prefix = keyPrefix(key);
    const overAddress = (await this.increment(`ip:${ip}`)) > this.perMinute;
    if (!prefix || !this.prefixes.has(prefix)) return overAddress;
    return (await this.increment(`prefix:${prefix}`)) > this.perMinute;
  }

  close(): void {
    clearInterval(this.timer);
  }

  private refresh(): Promise<void> {
    this.loading ??= activeKeyPrefixes(this.db)
      .then((list) => {
        this.prefixes = new Set(list);
        this.loadedAt = Date.now();
      })
      .catch(() => undefined) // the database is away: keep the last list
      .finally(() => (this.loading = null));
    return this.loading;
  }

  private async count(what: string): Promise<number> {
    return Number(await this.redis.get(`${this.namespace}${what}`).catch(() => null)) || 0;
  }

  private async increment(what: string): Promise<number> {
    const name = `${this.namespace}${what}`;
    const replies = await this.redis
      .multi()
      .incr(name)
      .pexpire(name, 60_000, 'NX')
      .exec()
      .catch(() => null);
    return Number(replies?.[0]?.[1] ?? 0);
  }
}
