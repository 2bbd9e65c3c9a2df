/**
 * The reaper reconciles Postgres with BullMQ for jobs whose owner went quiet.
 * Every worker runs it on a timer; all its writes are conditional, so several
 * reapers at once are harmless.
 *
 * A `running` job whose heartbeat is older than HEARTBEAT_TIMEOUT_MS:
 *   BullMQ active                 -> left alone (a live lock; BullMQ's stall check handles a dead holder)
 *   BullMQ waiting/delayed        -> `queued` (the lost attempt counts as a crash); a worker will take it
 *   BullMQ failed                 -> `failed` with BullMQ's reason
 *   BullMQ has no such job        -> enqueued again while the crash budget lasts, else `failed`
 *   BullMQ completed              -> `failed`: the attempt ended without recording its outcome
 * A `queued` job untouched for ORPHAN_QUEUED_MS:
 *   BullMQ has no such job        -> enqueued (the submission's enqueue never reached Redis)
 *   BullMQ completed              -> enqueued afresh (a retry whose enqueue met the previous
 *                                    attempt's entry: BullMQ keeps a finished entry and ignores an
 *                                    add with its id, so nothing would ever run the job)
 *   BullMQ failed                 -> `failed` (the event that should have said so was missed)
 */
import type { Queue } from 'bullmq';
import type { Db } from '../store/db.js';
import type { ServiceConfig } from '../config.js';
import { expireIdempotencyKeys, finish } from '../store/jobs.js';
import { describeFailure, jobOptions, type JobKindName } from '../queue/queues.js';

export interface ReaperDeps {
  db: Db;
  queues: Record<JobKindName, Queue>;
  config: Pick<ServiceConfig, 'HEARTBEAT_TIMEOUT_MS' | 'ORPHAN_QUEUED_MS' | 'CRASH_BUDGET' | 'JOB_ATTEMPTS' | 'IDEMPOTENCY_TTL_MS'>;
  log: (fields: object, msg: string) => void;
}

export interface ReapReport {
  requeued: string[];
  reenqueued: string[];
  failed: string[];
}

const WAITING_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

async function queueState(queue: Queue, id: string): Promise<string> {
  const job = await queue.getJob(id);
  return job ? await job.getState() : 'missing';
}

async function failedReason(queue: Queue, id: string): Promise<string> {
  return describeFailure((await queue.getJob(id))?.failedReason || 'failed in the queue').error;
}

export async function reapOnce({ db, queues, config, log }: ReaperDeps): Promise<ReapReport> {
  const report: ReapReport = { requeued: [], reenqueued: [], failed: [] };
  const stale = await db.job.findMany({
    where: { status: 'running', OR: [{ heartbeatAt: null }, { heartbeatAt: { lt: new Date(Date.now() - config.HEARTBEAT_TIMEOUT_MS) } }] },
    take: 100,
  });
  for (const job of stale) {
    const queue = queues[job.kind];
    const state = await queueState(queue, job.id);
    if (state === 'active') continue;
    // every change is conditional on the lease the stale attempt held: a live attempt that wrote meanwhile wins
    const sameOwner = { id: job.id, status: 'running' as const, leaseId: job.leaseId };
    if (WAITING_STATES.includes(state)) {
      const r = await db.job.updateMany({ where: sameOwner, data: { status: 'queued', leaseId: null, crashes: { increment: 1 }, error: 'worker lost; waiting for a retry' } });
      if (r.count) report.requeued.push(job.id);
    } else if (state === 'missing' && job.crashes < config.CRASH_BUDGET) {
      const r = await db.job.updateMany({ where: sameOwner, data: { status: 'queued', leaseId: null, crashes: { increment: 1 }, error: 'worker lost and the queue had no record; enqueued again' } });
      if (r.count) {
        await queue.add(job.kind, { jobId: job.id }, jobOptions(job.id, job.priority, config.JOB_ATTEMPTS));
        report.reenqueued.push(job.id);
      }
    } else {
      const error =
        state === 'failed' ? await failedReason(queue, job.id)
        : state === 'missing' ? `worker lost ${job.crashes + 1} times (crash budget ${config.CRASH_BUDGET})`
        : 'the attempt ended without recording its outcome';
      const r = await db.job.updateMany({ where: sameOwner, data: { status: 'failed', finishedAt: new Date(), crashes: { increment: 1 }, error } });
      if (r.count) report.failed.push(job.id);
    }
  }

  const quiet = await db.job.findMany({ where: { status: 'queued', updatedAt: { lt: new Date(Date.now() - config.ORPHAN_QUEUED_MS) } }, take: 100 });
  for (const job of quiet) {
    const queue = queues[job.kind];
    const state = await queueState(queue, job.id);
    if (state === 'missing' || state === 'completed') {
      if (state === 'completed') await (await queue.getJob(job.id))?.remove();
      await queue.add(job.kind, { jobId: job.id }, jobOptions(job.id, job.priority, config.JOB_ATTEMPTS));
      await db.job.updateMany({ where: { id: job.id, status: 'queued' }, data: { updatedAt: new Date() } });
      report.reenqueued.push(job.id);
    } else if (state === 'failed') {
      await finish(db, job.id, 'failed', { error: await failedReason(queue, job.id) });
      report.failed.push(job.id);
    }
  }
  // Idempotency-Keys past their time are forgotten (a later use of the key would replace them anyway)
  await expireIdempotencyKeys(db, config.IDEMPOTENCY_TTL_MS);
  if (report.requeued.length + report.reenqueued.length + report.failed.length) log({ ...report }, 'reaper reconciled jobs');
  return report;
}
