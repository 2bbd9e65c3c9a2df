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
 * the move the job row is touched, which keeps the reaper (it re-enqueues
 * only jobs quiet for ORPHAN_QUEUED_MS) away from it. A worker that dies
 * between the remove and the add leaves the row queued with no queue entry,
 * and the reaper enqueues it again.
 */
import type { Db } from '../store/db.js';
import { type JobKindName, type JobPayload, type LaneQueues } from '../queue/queues.js';

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
  let wanted = freeSlots() - (await gpu.getJobCountByTypes('waiting', 'prioritized'));
  if (wanted <= 0) return [];
  const claimed: string[] = [];
  // highest priority first (BullMQ orders `prioritized` by priority, then by arrival)
  const candidates = await shared.getJobs(['prioritized', 'waiting'], 0, wanted * 4 + 16, true);
  for (const candidate of candidates) {
    if (wanted <= 0) break;
    if ((candidate.data as Partial<JobPayload>).device !== 'any' || !candidate.id) continue;
    const touched = await db.job.updateMany({ where: { id: candidate.id, status: 'queued', device: 'any', cancelRequested: false }, data: { updatedAt: new Date() } });
    if (touched.count !== 1) continue;
    const removed = await candidate.remove().then(
      () => true,
      () => false,
    );
    if (!removed) continue;
    await gpu.add(candidate.name, candidate.data, { ...candidate.opts, jobId: candidate.id });
    claimed.push(candidate.id);
    wanted--;
  }
  return claimed;
}
