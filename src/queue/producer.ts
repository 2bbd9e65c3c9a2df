/**
 * The API's side of the job queues. It runs on a producer connection (queues.ts), which never
 * waits for Redis: a call while Redis is away, or one Redis does not answer within the command
 * timeout, fails at once with QueueUnavailable (which the API answers with 503), and nothing is
 * left pending behind a request that has been answered. Workers use the queues directly, on
 * connections that wait for Redis to come back.
 */
import type { Redis } from 'ioredis';
import { enqueue, locate, removeFromLanes, type JobRef, type LaneQueues, type Located, type QueuedJob } from './queues.js';

const WAITING_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

export class QueueUnavailable extends Error {
  constructor(
    /** what the client should know or do (the 503's message says Redis is away, then this) */
    readonly hint = 'try again shortly',
    readonly details?: object,
    options?: { cause?: unknown },
  ) {
    super(`the job queue (Redis) is unavailable; ${hint}`, options);
    this.name = 'QueueUnavailable';
  }

  /** the same failure, told with what it means for this request */
  withHint(hint: string, details?: object): QueueUnavailable {
    return new QueueUnavailable(hint, details, { cause: this.cause });
  }
}

/** ioredis's ways of saying Redis is not there (or did not answer in time) */
export function isRedisUnavailable(err: unknown): boolean {
  const e = err as { name?: string; code?: string; message?: string } | null;
  if (!e) return false;
  if (e.name === 'MaxRetriesPerRequestError') return true;
  if (e.code && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTCONN', 'EHOSTUNREACH'].includes(e.code)) return true;
  return /Stream isn't writeable|Connection is closed|Command timed out|enableOfflineQueue|Reached the max retries/i.test(e.message ?? '');
}

export class JobQueue {
  constructor(
    readonly lanes: LaneQueues,
    private readonly connection: Redis,
    /** BullMQ tries per job (JOB_ATTEMPTS) */
    private readonly attempts: number,
  ) {}

  /** Run a Redis call only while connected; any sign that Redis is away becomes QueueUnavailable. */
  private async call<T>(f: () => Promise<T>): Promise<T> {
    // (BullMQ waits for a connection that is not ready yet, whatever the offline-queue setting)
    if (this.connection.status !== 'ready') throw new QueueUnavailable();
    try {
      return await f();
    } catch (err) {
      if (isRedisUnavailable(err)) throw new QueueUnavailable(undefined, undefined, { cause: err });
      throw err;
    }
  }

  /** put a job in its lane (an id the lane holds already is left as it is) */
  enqueue(job: QueuedJob): Promise<void> {
    return this.call(() => enqueue(this.lanes, job, this.attempts));
  }

  /** the job's liveliest entry over the lanes it may be in, or null */
  locate(job: JobRef): Promise<Located | null> {
    return this.call(() => locate(this.lanes, job));
  }

  /** remove the job's entries from every lane it may be in (throws while one is active) */
  removeFromLanes(job: JobRef): Promise<void> {
    return this.call(() => removeFromLanes(this.lanes, job));
  }

  /**
   * Take a job that is still waiting out of the queue; false when no entry waits (none at all, or
   * a worker holds it: BullMQ refuses to remove a locked job). `entry` says whether there was any.
   */
  async removeWaiting(job: JobRef): Promise<{ removed: boolean; entry: boolean }> {
    const found = await this.locate(job);
    if (!found) return { removed: false, entry: false };
    if (!WAITING_STATES.includes(found.state)) return { removed: false, entry: true };
    const removed = await this.call(() =>
      found.job.remove().then(
        () => true,
        (err: unknown) => {
          if (isRedisUnavailable(err)) throw err;
          return false; // locked: a worker took it meanwhile
        },
      ),
    );
    return { removed, entry: true };
  }

  /** true once no entry of the job is active (or there is none), false if one still is after `waitMs` */
  async leavesActive(job: JobRef, waitMs: number): Promise<boolean> {
    const deadline = Date.now() + waitMs;
    for (;;) {
      if ((await this.locate(job))?.state !== 'active') return true;
      if (Date.now() >= deadline) return false;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
