/**
 * Probes that CPC jobs asked for (`probe` on a submission, a sweep's `probe`): once the CPC job
 * has succeeded, its probe is submitted exactly once. The request is cleared and the probe's
 * row inserted in one transaction, by whichever of the job's worker (at once) and the reaper
 * (a worker that died in between) gets there first; the caller then enqueues the row (and the
 * reaper enqueues a queued row that never reached the queue).
 */
import type { Db } from './db.js';
import { Prisma } from '../generated/prisma/client.js';
import { stableHash } from '../lib/hash.js';
import { newJobId, type JobRow } from './jobs.js';

/** The probe row, or null when the job has no pending probe (none asked, or submitted already). */
export function submitFollowUpProbe(db: Db, cpcJobId: string): Promise<JobRow | null> {
  return db.$transaction(async (tx) => {
    const parent = await tx.job.findUnique({ where: { id: cpcJobId } });
    if (!parent || parent.status !== 'succeeded' || parent.probeAfter === null) return null;
    const claimed = await tx.job.updateMany({
      where: { id: cpcJobId, status: 'succeeded', probeAfter: { not: Prisma.AnyNull } },
      data: { probeAfter: Prisma.DbNull },
    });
    if (claimed.count !== 1) return null;
    const config = parent.probeAfter as { seed: number };
    return tx.job.create({
      data: {
        id: newJobId(),
        ownerId: parent.ownerId,
        kind: 'probe',
        config,
        configHash: stableHash(config),
        seed: config.seed,
        experimentId: parent.experimentId,
        priority: parent.priority,
        device: parent.device,
        parentJobId: parent.id,
        datasetId: parent.datasetId,
        totalSteps: 0,
      },
    });
  });
}

/** succeeded CPC jobs whose probe has not been submitted (the reaper's backstop) */
export async function pendingFollowUps(db: Db, take = 100): Promise<string[]> {
  const rows = await db.job.findMany({
    where: { status: 'succeeded', probeAfter: { not: Prisma.AnyNull } },
    select: { id: true },
    take,
  });
  return rows.map((r) => r.id);
}
