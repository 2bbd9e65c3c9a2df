/**
 * What is left once a deletion has committed: the stored files of the deleted
 * jobs' artifacts, and their entries in BullMQ (a final job's entry stays in
 * a lane's completed or failed set until BullMQ trims it). Best effort: the
 * rows are gone already, and a file that could not be removed is logged (an
 * orphan costs disk, not correctness).
 */
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Deleted } from '../store/deletion.js';

async function removeLeftovers(app: FastifyInstance, deleted: Deleted, log: FastifyBaseLogger): Promise<void> {
  for (const uri of deleted.uris)
    await app.artifactStore.delete(uri).catch((err: unknown) => log.warn({ err, uri }, 'could not delete a deleted job’s file'));
  for (const job of deleted.jobs)
    await app.queue
      .removeFromLanes(job)
      .catch((err: unknown) => log.warn({ err, jobId: job.id }, 'could not remove a deleted job’s queue entry'));
}

/** remove what is left of a committed deletion; returns what the deletion answers */
export async function finishDeletion(app: FastifyInstance, deleted: Deleted, log: FastifyBaseLogger) {
  await removeLeftovers(app, deleted, log);
  return { jobs: deleted.jobs.map((j) => j.id), artifacts: deleted.uris.length };
}
