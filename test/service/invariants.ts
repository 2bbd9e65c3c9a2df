/**
 * What must hold after any fault: every job in exactly one final state in
 * Postgres, BullMQ agreeing, every recorded artifact verifying against its
 * sha256, metric series without duplicates or holes, no stray processes.
 */
import type { Harness } from './harness.js';
import { harnessProcesses } from './processes.js';
import { ArtifactStores } from '../../src/artifacts/store.js';
import { allQueues, laneQueues, locate, redisConnection } from '../../src/queue/queues.js';
import { FINAL_STATUSES } from '../../src/store/lifecycle.js';

export interface InvariantReport {
  jobs: number;
  byStatus: Record<string, number>;
  artifactsVerified: number;
  violations: string[];
}

/** metric steps a finished CPC job must have recorded exactly once each */
export function expectedMetricSteps(totalSteps: number, every: number): number[] {
  const steps: number[] = [];
  for (let s = every; s <= totalSteps; s += every) steps.push(s);
  if (steps.at(-1) !== totalSteps) steps.push(totalSteps);
  return steps;
}

export async function checkInvariants(h: Harness, options: { expectNoProcesses?: boolean } = {}): Promise<InvariantReport> {
  const db = h.app.db;
  const violations: string[] = [];
  const connection = redisConnection(h.config.REDIS_URL);
  const queues = laneQueues(connection, h.config.QUEUE_PREFIX);
  const store = new ArtifactStores(h.config.ARTIFACT_STORE, h.config.ARTIFACT_DIR, db);
  const byStatus: Record<string, number> = {};
  let artifactsVerified = 0;
  try {
    const jobs = await db.job.findMany({ include: { artifacts: true } });
    for (const job of jobs) {
      byStatus[job.status] = (byStatus[job.status] ?? 0) + 1;
      if (!FINAL_STATUSES.includes(job.status)) violations.push(`${job.id} is still ${job.status}`);
      const state = (await locate(queues, job))?.state ?? 'missing';
      const agrees =
        job.status === 'succeeded'
          ? state === 'completed'
          : job.status === 'failed'
            ? state === 'failed'
            : job.status === 'cancelled'
              ? ['completed', 'missing', 'failed'].includes(state)
              : true;
      if (!agrees) violations.push(`${job.id} is ${job.status} in Postgres but ${state} in BullMQ`);
      for (const a of job.artifacts) {
        try {
          await store.get(a.uri, a.sha256);
          artifactsVerified++;
        } catch (err) {
          violations.push(`${job.id} artifact ${a.name}: ${(err as Error).message}`);
        }
      }
      if (job.kind === 'cpc' && job.status === 'succeeded') {
        const rows = await db.metricPoint.findMany({ where: { jobId: job.id, split: 'train', name: 'loss' }, orderBy: { step: 'asc' } });
        const expected = expectedMetricSteps(job.totalSteps, h.config.METRICS_EVERY);
        const got = rows.map((r) => r.step);
        if (JSON.stringify(got) !== JSON.stringify(expected))
          violations.push(`${job.id} train loss steps ${JSON.stringify(got)} != ${JSON.stringify(expected)}`);
        if (!job.artifacts.some((a) => a.name === 'encoder/weights.bin'))
          violations.push(`${job.id} succeeded without an encoder artifact`);
      }
    }
    if (options.expectNoProcesses) {
      const left = harnessProcesses(h);
      if (left.length) violations.push(`processes left running: ${left.join(', ')}`);
    }
    return { jobs: jobs.length, byStatus, artifactsVerified, violations };
  } finally {
    await Promise.all(allQueues(queues).map((q) => q.close()));
    connection.disconnect();
  }
}
