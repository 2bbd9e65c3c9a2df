/**
 * GPU workers take `any` jobs from spare capacity. BullMQ lets one Worker
 * consume one queue with its own concurrency, so a GPU worker consumes only
 * the gpu lane, and while it has a free slot and its lane has nothing
 * waiting, it moves `any` jobs from the front of the shared lane into the gpu
 * lane (queues.ts). CPU workers never see the gpu lane; `cpu` jobs are never
 * moved.
 *
 * A move is a remove (atomic in Redis: it fails if a CPU worker took the job
 * meanwhile, or another GPU worker moved it first) and then an add. Before
 * the move the job row's updatedAt is compare-and-set; the reaper does the
 * same before it re-enqueues a queued job it found quiet for
 * ORPHAN_QUEUED_MS, so two that read the row before either wrote cannot both
 * act. A claim that reads the row after the reaper's write can: the reaper
 * then finds the job in the gpu lane after its enqueue and removes its own
 * twin (reaper.ts); a twin that runs anyway takes the lease over once and the
 * job still succeeds (attempt.ts). A worker that dies between the remove and
 * the add leaves the row queued with no queue entry, and the reaper enqueues
 * it again.
 *
 * `any` jobs left waiting in the gpu lane with no GPU worker to take them
 * (theirs stopped or died) go back to the shared lane (returnStranded).
 */
import type { Db } from '../store/db.js';
import { touchQueued } from '../store/lifecycle.js';
import { laneRedis, type JobEntry, type JobKindName, type JobQueue, type LaneQueues } from '../queue/queues.js';

// (entries queued before device routing carry no device: they are not `any` jobs to move)
const isAny = (job: JobEntry) => job.data.device === 'any' && Boolean(job.id);

/** ms until a delayed entry is due (BullMQ's delayed set scores are due time × 0x1000 + a counter); 0 if not delayed */
async function remainingDelay(from: JobQueue, job: JobEntry): Promise<number> {
  const score = await laneRedis(from).zscore(from.toKey('delayed'), job.id!);
  return score === null ? 0 : Math.max(0, Math.floor(Number(score) / 0x1000) - Date.now());
}

/** move a waiting `any` job to another lane; false if it is no longer there to move */
async function move(db: Db, job: JobEntry, from: JobQueue, to: JobQueue): Promise<boolean> {
  const row = await db.job.findUnique({
    where: { id: job.id! },
    select: { status: true, device: true, cancelRequested: true, updatedAt: true },
  });
  if (!row || row.status !== 'queued' || row.device !== 'any' || row.cancelRequested) return false;
  // compare-and-set on updatedAt: the reaper takes a quiet job the same way before it re-enqueues one
  if (!(await touchQueued(db, job.id!, { updatedAt: row.updatedAt }))) return false;
  // (a delayed job, waiting out a retry's backoff, keeps what is left of its delay)
  const delay = await remainingDelay(from, job);
  const removed = await job.remove().then(
    () => true,
    () => false,
  );
  if (!removed) return false;
  await to.add(job.name, job.data, { ...job.opts, jobId: job.id, delay });
  return true;
}

export interface ClaimDeps {
  db: Db;
  queues: LaneQueues;
  kind: JobKindName;
  /** slots of this worker's gpu-lane Worker not running a job */
  freeSlots: () => number;
}

/** one pass: move up to the free slots' worth of `any` jobs; returns their ids */
export async function claimOnce({ db, queues, kind, freeSlots }: ClaimDeps): Promise<string[]> {
  const { shared, gpu } = queues[kind];
  // (a busy worker asks Redis nothing: this runs every CLAIM_INTERVAL_MS)
  if (freeSlots() <= 0) return [];
  let wanted = freeSlots() - (await gpu.getJobCountByTypes('waiting', 'prioritized'));
  if (wanted <= 0) return [];
  const claimed: string[] = [];
  // highest priority first (BullMQ orders `prioritized` by priority, then by arrival)
  const candidates = await shared.getJobs(['prioritized', 'waiting'], 0, wanted * 4 + 16, true);
  for (const candidate of candidates) {
    if (wanted <= 0) break;
    if (!isAny(candidate) || !(await move(db, candidate, shared, gpu))) continue;
    claimed.push(candidate.id!);
    wanted--;
  }
  return claimed;
}

/**
 * `any` jobs waiting in the gpu lane while no GPU worker consumes it go back to the shared lane,
 * where CPU workers take them. Every worker's reaper pass runs this; returns the moved ids.
 */
export async function returnStranded(db: Db, queues: LaneQueues, kind: JobKindName): Promise<string[]> {
  const { shared, gpu } = queues[kind];
  if ((await gpu.getWorkersCount()) > 0) return [];
  const moved: string[] = [];
  for (const candidate of await gpu.getJobs(['prioritized', 'waiting', 'delayed'], 0, 99, true)) {
    if (isAny(candidate) && (await move(db, candidate, gpu, shared))) moved.push(candidate.id!);
  }
  return moved;
}
