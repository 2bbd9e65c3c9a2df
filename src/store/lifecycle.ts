/**
 * A job's life: every change of `jobs.status` (and of the lease and crash count that go
 * with it) is one of the named transitions below, and nothing else in the code writes
 * those columns. Each transition is one conditional UPDATE on the status it expects (and,
 * for an attempt, on its lease) and says whether it applied; a caller that lost a race
 * learns it from the answer instead of overwriting the winner.
 *
 * | transition    | from                              | to         | taken by                                              |
 * |---------------|-----------------------------------|------------|-------------------------------------------------------|
 * | submit        | (none)                            | queued     | API (the row is inserted so: store/jobs.ts createJob) |
 * |               |                                   |            | worker or reaper: a succeeded CPC job's asked-for     |
 * |               |                                   |            | probe (store/follow-ups.ts)                           |
 * | start         | queued, running¹; no cancel asked | running    | worker attempt (takes a fresh lease)                  |
 * | heartbeat     | running, own lease                | running    | worker attempt (every HEARTBEAT_MS)                   |
 * | complete      | running, own lease                | succeeded  | worker attempt                                        |
 * | requeue       | running, own lease                | queued     | worker attempt (error with tries left, or shutdown)   |
 * | fail          | running, own lease                | failed     | worker attempt (error on its last try)                |
 * | stopCancelled | running, own lease                | cancelled  | worker attempt (saw the cancel request)               |
 * | requestCancel | queued, running                   | (flag set) | API                                                   |
 * | cancel        | queued, running², flag set        | cancelled  | API (entry left), worker (start refused), reaper³     |
 * | retry         | failed, cancelled                 | queued     | API                                                   |
 * | reapRequeue   | running, no heartbeat since read  | queued     | reaper (worker lost; crash counted)                   |
 * | reapFail      | running, no heartbeat since read  | failed     | reaper (worker lost too often; crash counted)         |
 * | queueGaveUp   | queued, running                   | failed     | worker's failed listener, reaper (BullMQ failed it)   |
 *
 * ¹ a job still `running` when an attempt starts lost its previous attempt: a crash is counted.
 * ² a `running` row whose attempt is gone (its queue entry is waiting again).
 * ³ a queued job whose cancel was recorded while Redis was away and no worker picked it up since.
 *
 * Final statuses (succeeded, failed, cancelled) change only by `retry`. An attempt's
 * transitions are idempotent: repeating one after a commit whose reply was lost answers
 * true again. The queue side (BullMQ entries) is kept in step by the callers: the attempt
 * (worker/attempt.ts), the reaper (worker/reaper.ts) and the API's job service.
 */
import { randomUUID } from 'node:crypto';
import type { Db } from './db.js';
import type { JobStatus } from '../generated/prisma/client.js';

export const FINAL_STATUSES: readonly JobStatus[] = ['succeeded', 'failed', 'cancelled'];

export const isFinal = (status: JobStatus) => FINAL_STATUSES.includes(status);

/** an attempt's ownership of a job (see leases.ts for the writes it fences) */
export interface Lease {
  jobId: string;
  leaseId: string;
  attempts: number;
  crashes: number;
}

/**
 * What the reaper read of a job whose attempt went quiet. Its changes hold only while that
 * attempt still owns the job and has not shown a sign of life since (a heartbeat or a fenced
 * write moves heartbeatAt): a slow attempt that beats after the read wins.
 */
export interface StaleAttempt {
  id: string;
  leaseId: string | null;
  heartbeatAt: Date | null;
}

const stillStale = (stale: StaleAttempt) => ({
  id: stale.id,
  status: 'running' as const,
  leaseId: stale.leaseId,
  heartbeatAt: stale.heartbeatAt,
});

/**
 * Take the job for a new attempt, with a fresh lease. Null when the job is final or a cancel
 * was requested (then `cancel` ends it).
 */
export async function start(db: Db, jobId: string, worker: { host: string; backend: string }): Promise<Lease | null> {
  const leaseId = randomUUID();
  const rows = await db.$queryRaw<Array<{ attempts: number; crashes: number }>>`
    UPDATE jobs SET
      status = 'running',
      lease_id = ${leaseId},
      attempts = attempts + 1,
      crashes = crashes + CASE WHEN status = 'running' THEN 1 ELSE 0 END,
      worker_host = ${worker.host},
      backend = ${worker.backend},
      started_at = COALESCE(started_at, now()),
      heartbeat_at = now(),
      error = NULL,
      updated_at = now()
    WHERE id = ${jobId} AND status IN ('queued', 'running') AND NOT cancel_requested
    RETURNING attempts, crashes`;
  return rows.length ? { jobId, leaseId, attempts: rows[0].attempts, crashes: rows[0].crashes } : null;
}

/** Renew the attempt's heartbeat; null when its lease is gone (another attempt owns the job, or it ended). */
export async function heartbeat(db: Db, lease: Lease): Promise<{ cancelRequested: boolean } | null> {
  const rows = await db.$queryRaw<Array<{ cancel_requested: boolean }>>`
    UPDATE jobs SET heartbeat_at = now()
    WHERE id = ${lease.jobId} AND lease_id = ${lease.leaseId} AND status = 'running'
    RETURNING cancel_requested`;
  return rows.length ? { cancelRequested: rows[0].cancel_requested } : null;
}

/** An attempt ends its ownership; true if it applied now or by an earlier try of the same call. */
async function endAttempt(db: Db, lease: Lease, status: JobStatus, fields: { error?: string | null; result?: object } = {}) {
  const final = isFinal(status);
  const r = await db.job.updateMany({
    where: { id: lease.jobId, leaseId: lease.leaseId, status: 'running' },
    data: {
      status,
      // a final row keeps the lease that ended it (so a repeat of this call recognises it); a requeued one has none
      leaseId: final ? lease.leaseId : null,
      error: fields.error ?? null,
      ...(final ? { finishedAt: new Date() } : {}),
      ...(fields.result ? { result: fields.result } : {}),
      ...(status === 'succeeded' ? { progress: 1 } : {}),
    },
  });
  if (r.count === 1) return true;
  const row = await db.job.findUnique({ where: { id: lease.jobId }, select: { status: true, leaseId: true } });
  return Boolean(row && row.status === status && (final ? row.leaseId === lease.leaseId : row.leaseId === null));
}

export const complete = (db: Db, lease: Lease, result: object) => endAttempt(db, lease, 'succeeded', { result });

/** back to the queue: another try follows (or another worker continues from the checkpoint) */
export const requeue = (db: Db, lease: Lease, error: string) => endAttempt(db, lease, 'queued', { error });

export const fail = (db: Db, lease: Lease, error: string) => endAttempt(db, lease, 'failed', { error });

export const stopCancelled = (db: Db, lease: Lease) => endAttempt(db, lease, 'cancelled');

/** Ask for a job to be cancelled; false when it is final already. */
export async function requestCancel(db: Db, jobId: string): Promise<boolean> {
  const r = await db.job.updateMany({ where: { id: jobId, status: { in: ['queued', 'running'] } }, data: { cancelRequested: true } });
  return r.count === 1;
}

/** End a job whose cancel was requested and that no live attempt owns (its queue entry is gone, or no attempt may start). */
export async function cancel(db: Db, jobId: string): Promise<boolean> {
  const r = await db.job.updateMany({
    where: { id: jobId, status: { in: ['queued', 'running'] }, cancelRequested: true },
    data: { status: 'cancelled', finishedAt: new Date(), error: null },
  });
  return r.count === 1;
}

/** Queue a failed or cancelled job again; false when its status is no longer `from`. */
export async function retry(db: Db, jobId: string, from: 'failed' | 'cancelled'): Promise<boolean> {
  const r = await db.job.updateMany({
    where: { id: jobId, status: from },
    data: { status: 'queued', leaseId: null, cancelRequested: false, error: null, finishedAt: null },
  });
  return r.count === 1;
}

/** The reaper found the attempt lost and the job waiting in (or missing from) the queue: queued again, one crash more. */
export async function reapRequeue(db: Db, stale: StaleAttempt, error: string): Promise<boolean> {
  const r = await db.job.updateMany({
    where: stillStale(stale),
    data: { status: 'queued', leaseId: null, crashes: { increment: 1 }, error },
  });
  return r.count === 1;
}

/** The reaper found the attempt lost for good: failed, one crash more. */
export async function reapFail(db: Db, stale: StaleAttempt, error: string): Promise<boolean> {
  const r = await db.job.updateMany({
    where: stillStale(stale),
    data: { status: 'failed', finishedAt: new Date(), crashes: { increment: 1 }, error },
  });
  return r.count === 1;
}

/**
 * BullMQ gave up on the job (its tries or its crash budget ran out). `crashed` says the attempt
 * that ended it was lost (its worker vanished); that crash is counted only while the row still
 * says `running`: whoever moved it off `running` before (the reaper requeueing it, say: BullMQ
 * first moves a stalled job back to wait and fails it only when a worker picks it up) counted it.
 */
export async function queueGaveUp(db: Db, jobId: string, fields: { error: string; crashed?: boolean }): Promise<boolean> {
  const data = { status: 'failed' as const, finishedAt: new Date(), error: fields.error };
  if (fields.crashed) {
    const r = await db.job.updateMany({ where: { id: jobId, status: 'running' }, data: { ...data, crashes: { increment: 1 } } });
    if (r.count) return true;
  }
  const r = await db.job.updateMany({ where: { id: jobId, status: { in: ['queued', 'running'] } }, data });
  return r.count === 1;
}

/** The reaper's candidates: running jobs whose attempt has not beaten since `before` (or never did). */
export function quietRunning(db: Db, before: Date, take = 100) {
  return db.job.findMany({ where: { status: 'running', OR: [{ heartbeatAt: null }, { heartbeatAt: { lt: before } }] }, take });
}

/** The reaper's other candidates: queued jobs nobody touched since `before` (their enqueue may never have reached Redis). */
export function quietQueued(db: Db, before: Date, take = 100) {
  return db.job.findMany({ where: { status: 'queued', updatedAt: { lt: before } }, take });
}

/**
 * Not a status change: a compare-and-set on a queued row's updatedAt, taken before its queue
 * entry is moved or re-created (worker/claim.ts, worker/reaper.ts), so two that read the row
 * before either wrote cannot both act. `since` names the updatedAt read (exact), or a time
 * the row must have been quiet since.
 */
export async function touchQueued(db: Db, jobId: string, since: { updatedAt: Date } | { quietSince: Date }): Promise<boolean> {
  const updatedAt = 'updatedAt' in since ? since.updatedAt : { lt: since.quietSince };
  const r = await db.job.updateMany({ where: { id: jobId, status: 'queued', updatedAt }, data: { updatedAt: new Date() } });
  return r.count === 1;
}
