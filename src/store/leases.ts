/**
 * Fenced job ownership. An attempt that starts a job takes a fresh lease
 * (jobs.lease_id, lifecycle.ts `start`); every write it makes afterwards runs in a transaction that
 * first re-checks the lease with `UPDATE ... WHERE lease_id = $mine`, which
 * also takes the row lock. A second attempt of the same job (BullMQ re-ran
 * it after a lost lock, the reaper re-queued it) takes a new lease, and from
 * then on the old attempt's writes are refused with LeaseLost instead of
 * landing beside the new attempt's.
 */
import type { Db } from './db.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { Lease } from './lifecycle.js';

export type { Lease };

export type Tx = Prisma.TransactionClient;

export class LeaseLost extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} is now owned by another attempt; this attempt's writes are refused`);
    this.name = 'LeaseLost';
  }
}

/** Run f in a transaction that holds the job row only if this lease still owns it. */
export async function fenced<T>(db: Db, lease: Lease, f: (tx: Tx) => Promise<T>): Promise<T> {
  return db.$transaction(async (tx) => {
    const owned =
      await tx.$executeRaw`UPDATE jobs SET heartbeat_at = now() WHERE id = ${lease.jobId} AND lease_id = ${lease.leaseId} AND status = 'running'`;
    if (owned !== 1) throw new LeaseLost(lease.jobId);
    return f(tx);
  });
}

export interface RetryOptions {
  tries?: number;
  firstDelayMs?: number;
  onRetry?: (err: Error, attempt: number) => void;
}

/**
 * Retry a Postgres write through transient failures (restart, freeze: the
 * pool's connect and query timeouts make each try fail fast). LeaseLost is
 * final and never retried.
 */
export async function withRetry<T>(f: () => Promise<T>, options: RetryOptions = {}): Promise<T> {
  const tries = options.tries ?? 6;
  let delay = options.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    try {
      return await f();
    } catch (err) {
      if (err instanceof LeaseLost || attempt >= tries) throw err;
      options.onRetry?.(err as Error, attempt);
      await new Promise((r) => setTimeout(r, delay));
      delay *= 2;
    }
  }
}
