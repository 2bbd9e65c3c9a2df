/**
 * The reaper reconciles Postgres with BullMQ for jobs whose owner went quiet.
 * Every worker runs it on a timer; all its writes are conditional, so several
 * reapers at once are harmless.
 *
 * BullMQ's state is that of the job's liveliest entry in the lanes it may be
 * in (queues.ts: an `any` job a GPU worker claimed moved to the gpu lane).
 *
 * A `running` job whose heartbeat is older than HEARTBEAT_TIMEOUT_MS:
 *   BullMQ active                 -> left alone (a live lock; BullMQ's stall check handles a dead holder),
 *                                    unless its lock is gone and no worker consumes its queue (a GPU
 *                                    queue whose last GPU worker died: nobody runs the stall check
 *                                    there); then the entry is removed and handled as missing
 *   BullMQ waiting/delayed        -> `queued` (the lost attempt counts as a crash); a worker will take it
 *   BullMQ failed                 -> `failed` with BullMQ's reason
 *   BullMQ has no such job        -> enqueued again while the crash budget lasts, else `failed`
 *   BullMQ completed              -> `failed`: the attempt ended without recording its outcome
 * A `queued` job untouched for ORPHAN_QUEUED_MS:
 *   cancel requested              -> its waiting entries removed and `cancelled` (a cancel the API
 *                                    recorded while Redis was away, for a job no worker may pick up)
 *   BullMQ has no such job        -> enqueued (the submission's enqueue never reached Redis)
 *   BullMQ completed              -> enqueued afresh (a retry whose enqueue met the previous
 *                                    attempt's entry: BullMQ keeps a finished entry and ignores an
 *                                    add with its id, so nothing would ever run the job)
 *   BullMQ failed                 -> `failed` (the event that should have said so was missed)
 * `any` jobs waiting in a gpu lane no GPU worker consumes go back to the shared lane (claim.ts).
 * A succeeded CPC job whose asked-for probe was never submitted (its worker stopped first) gets it.
 */
import type { Db } from '../store/db.js';
import type { ServiceConfig } from '../config.js';
import { expireIdempotencyKeys } from '../store/jobs.js';
import { cancel, queueGaveUp, quietQueued, quietRunning, reapFail, reapRequeue, touchQueued } from '../store/lifecycle.js';
import { describeFailure, enqueue, JOB_KINDS, laneRedis, locate, removeFromLanes, type LaneQueues, type Located } from '../queue/queues.js';
import { returnStranded } from './claim.js';
import { startFollowUpProbe } from './follow-ups.js';
import { pendingFollowUps } from '../store/follow-ups.js';

export interface ReaperDeps {
  db: Db;
  queues: LaneQueues;
  config: Pick<ServiceConfig, 'HEARTBEAT_TIMEOUT_MS' | 'ORPHAN_QUEUED_MS' | 'CRASH_BUDGET' | 'JOB_ATTEMPTS' | 'IDEMPOTENCY_TTL_MS'>;
  log: (fields: object, msg: string) => void;
}

export interface ReapReport {
  requeued: string[];
  reenqueued: string[];
  failed: string[];
  /** `any` jobs moved from a gpu lane without GPU workers back to the shared lane */
  returned: string[];
  /** queued jobs whose cancel was requested, ended */
  cancelled: string[];
  /** probes submitted for succeeded CPC jobs that asked for one (their worker stopped before it did) */
  probes: string[];
}

const WAITING_STATES = ['waiting', 'delayed', 'prioritized', 'waiting-children'];

/** an active entry nobody holds and nobody will find stalled: no lock, and no worker on its queue */
async function abandoned({ queue, job }: Located): Promise<boolean> {
  if (await laneRedis(queue).exists(`${queue.toKey(job.id!)}:lock`)) return false;
  return (await queue.getWorkersCount()) === 0;
}

function failedReason(found: Awaited<ReturnType<typeof locate>>): string {
  return describeFailure(found?.job.failedReason || 'failed in the queue').error;
}

export async function reapOnce({ db, queues, config, log }: ReaperDeps): Promise<ReapReport> {
  const report: ReapReport = { requeued: [], reenqueued: [], failed: [], returned: [], cancelled: [], probes: [] };
  const stale = await quietRunning(db, new Date(Date.now() - config.HEARTBEAT_TIMEOUT_MS));
  for (const job of stale) {
    let found = await locate(queues, job);
    if (found?.state === 'active' && (await abandoned(found))) {
      // (refused if a worker took the lock meanwhile: then it is alive, and left alone)
      await found.job.remove().catch(() => undefined);
      found = await locate(queues, job);
    }
    const state = found?.state ?? 'missing';
    if (state === 'active') continue;
    // every change is conditional on the lease the stale attempt held: a live attempt that wrote meanwhile wins
    if (WAITING_STATES.includes(state)) {
      if (await reapRequeue(db, job, 'worker lost; waiting for a retry')) report.requeued.push(job.id);
    } else if (state === 'missing' && job.crashes < config.CRASH_BUDGET) {
      if (await reapRequeue(db, job, 'worker lost and the queue had no record; enqueued again')) {
        await enqueue(queues, job, config.JOB_ATTEMPTS);
        report.reenqueued.push(job.id);
      }
    } else {
      const error =
        state === 'failed'
          ? failedReason(found)
          : state === 'missing'
            ? `worker lost ${job.crashes + 1} times (crash budget ${config.CRASH_BUDGET})`
            : 'the attempt ended without recording its outcome';
      if (await reapFail(db, job, error)) report.failed.push(job.id);
    }
  }

  const quietSince = new Date(Date.now() - config.ORPHAN_QUEUED_MS);
  const quiet = await quietQueued(db, quietSince);
  for (const job of quiet) {
    // still quiet now? (a GPU worker moving the job between queues touches the row first: worker/claim.ts)
    if (!(await touchQueued(db, job.id, { quietSince }))) continue;
    const found = await locate(queues, job);
    if (job.cancelRequested) {
      // (an active entry's worker sees the request itself)
      if (found?.state === 'active') continue;
      await removeFromLanes(queues, job).catch(() => undefined);
      if (await cancel(db, job.id)) report.cancelled.push(job.id);
      continue;
    }
    const state = found?.state ?? 'missing';
    if (state === 'missing' || state === 'completed') {
      if (found) await found.job.remove();
      await enqueue(queues, job, config.JOB_ATTEMPTS);
      // a GPU worker's claim that read the row after our touch may have moved the job meanwhile:
      // then the entry just added is a twin, and goes (a twin that ran anyway only takes over once)
      if (job.device === 'any' && (await queues[job.kind].gpu.getJob(job.id))) {
        await (await queues[job.kind].shared.getJob(job.id))?.remove().catch(() => undefined);
      }
      report.reenqueued.push(job.id);
    } else if (state === 'failed') {
      if (await queueGaveUp(db, job.id, { error: failedReason(found) })) report.failed.push(job.id);
    }
  }
  for (const kind of JOB_KINDS) report.returned.push(...(await returnStranded(db, queues, kind)));
  for (const cpcJobId of await pendingFollowUps(db)) {
    const probe = await startFollowUpProbe(db, queues, cpcJobId, config.JOB_ATTEMPTS);
    if (probe) report.probes.push(probe);
  }
  // Idempotency-Keys past their time are forgotten (a later use of the key would replace them anyway)
  await expireIdempotencyKeys(db, config.IDEMPOTENCY_TTL_MS);
  if (Object.values(report).some((ids) => ids.length)) log({ ...report }, 'reaper reconciled jobs');
  return report;
}
