/**
 * Fenced job ownership. An attempt that starts a job takes a fresh lease
 * (jobs.lease_id); every write it makes afterwards runs in a transaction that
 * first re-checks the lease with `UPDATE ... WHERE lease_id = $mine`, which
 * also takes the row lock. A second attempt of the same job (BullMQ re-ran
 * it after a lost lock, the reaper re-queued it) takes a new lease, and from
 * then on the old attempt's writes are refused with LeaseLost instead of
 * landing beside the new attempt's.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import type { JobStatus, Prisma } from '../generated/prisma/client.js';
import { FINAL_STATUSES } from './jobs.js';

export type Tx = Prisma.TransactionClient;

export class LeaseLost extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} is now owned by another attempt; this attempt's writes are refused`);
    this.name = 'LeaseLost';
  }
}

export interface Lease {
  jobId: string;
  leaseId: string;
  attempts: number;
  crashes: number;
}

/**
 * Take the job for this attempt. A job still marked running means the attempt
 * before this one ended without recording anything (its worker died): that is
 * counted as a crash. Returns null when the job is final or cancel-requested.
 */
export async function acquireLease(db: Db, jobId: string, host: string, backend: string): Promise<Lease | null> {
  const leaseId = randomUUID();
  const rows = await db.$queryRaw<Array<{ attempts: number; crashes: number }>>`
    UPDATE jobs SET
      status = 'running',
      lease_id = ${leaseId},
      attempts = attempts + 1,
      crashes = crashes + CASE WHEN status = 'running' THEN 1 ELSE 0 END,
      worker_host = ${host},
      backend = ${backend},
      started_at = COALESCE(started_at, now()),
      heartbeat_at = now(),
      error = NULL,
      updated_at = now()
    WHERE id = ${jobId} AND status IN ('queued', 'running') AND NOT cancel_requested
    RETURNING attempts, crashes`;
  return rows.length ? { jobId, leaseId, attempts: rows[0].attempts, crashes: rows[0].crashes } : null;
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

/** Renew the heartbeat; null when the lease is gone (another attempt owns the job, or it was finished). */
export async function heartbeat(db: Db, lease: Lease): Promise<{ cancelRequested: boolean } | null> {
  const rows = await db.$queryRaw<Array<{ cancel_requested: boolean }>>`
    UPDATE jobs SET heartbeat_at = now()
    WHERE id = ${lease.jobId} AND lease_id = ${lease.leaseId} AND status = 'running'
    RETURNING cancel_requested`;
  return rows.length ? { cancelRequested: rows[0].cancel_requested } : null;
}

/**
 * End this attempt's ownership: with a final status, or back to `queued` (a
 * retry or another worker continues from the checkpoint). Idempotent, so a
 * retry after a commit whose reply was lost succeeds.
 */
export async function releaseLease(
  db: Db,
  lease: Lease,
  status: JobStatus,
  fields: { error?: string | null; result?: object } = {},
): Promise<void> {
  const final = FINAL_STATUSES.includes(status);
  const r = await db.job.updateMany({
    where: { id: lease.jobId, leaseId: lease.leaseId, status: { in: ['running', status] } },
    data: {
      status,
      leaseId: final ? lease.leaseId : null,
      error: fields.error ?? null,
      ...(final ? { finishedAt: new Date() } : {}),
      ...(fields.result ? { result: fields.result } : {}),
      ...(status === 'succeeded' ? { progress: 1 } : {}),
    },
  });
  if (r.count === 0) {
    // an earlier try of this same call may have committed (queued clears the lease)
    const row = await db.job.findUnique({ where: { id: lease.jobId }, select: { status: true, leaseId: true } });
    if (!(row && row.status === status && (row.leaseId === lease.leaseId || (!final && row.leaseId === null))))
      throw new LeaseLost(lease.jobId);
  }
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
