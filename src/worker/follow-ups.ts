/** A succeeded CPC job's asked-for probe, submitted and queued (by its worker, or by the reaper). */
import type { Db } from '../store/db.js';
import { submitFollowUpProbe } from '../store/follow-ups.js';
import { enqueue, type LaneQueues } from '../queue/queues.js';

/**
 * The probe's job id, or null when there was none to submit. A probe whose enqueue does not reach
 * Redis stays queued in Postgres, and the reaper enqueues it (a quiet queued row with no entry).
 */
export async function startFollowUpProbe(db: Db, queues: LaneQueues, cpcJobId: string, attempts: number): Promise<string | null> {
  const probe = await submitFollowUpProbe(db, cpcJobId);
  if (probe) await enqueue(queues, probe, attempts);
  return probe?.id ?? null;
}
