/**
 * Sandboxed BullMQ processor for probe jobs: fetches the frozen encoder of a
 * finished CPC job, trains the linear and MLP heads beside the raw-pixel and
 * random-encoder baselines, stores the heads and the report.
 */
import type { SandboxedJob } from 'bullmq';
import { join } from 'node:path';
import { processorContext } from './context.js';
import { watchCancellation } from './cancellation.js';
import { probeRun } from '../cpc/runs.js';
import type { ProbeConfig } from '../cpc/probe.js';
import { finish, markRunning, recordMetrics } from '../store/jobs.js';
import { fetchRunFiles, storeRunFiles } from './run-files.js';

export default async function processProbeJob(job: SandboxedJob<{ jobId: string }>): Promise<unknown> {
  const ctx = await processorContext();
  const { db } = ctx;
  const { jobId } = job.data;
  const row = await db.job.findUnique({ where: { id: jobId } });
  if (!row?.parentJobId) throw new Error(`probe job ${jobId} is missing or names no CPC job`);
  if (row.cancelRequested) {
    await finish(db, jobId, 'cancelled');
    return { cancelled: true };
  }
  // a job that already reached a final state (e.g. a stale duplicate delivery) is not run again
  if (!(await markRunning(db, jobId, job.attemptsMade + 1, ctx.host, ctx.backend.name))) return { skipped: true };
  const runDir = join(ctx.config.ARTIFACT_DIR, 'work', jobId);
  await fetchRunFiles(ctx, row.parentJobId, runDir, ['manifest.json', 'encoder/model.json', 'encoder/weights.bin']);
  const cancellation = watchCancellation(db, jobId);
  try {
    await job.updateProgress({ phase: 'probing' });
    const report = await probeRun(runDir, row.config as Partial<ProbeConfig>, cancellation.signal, (msg) => void job.updateProgress({ phase: msg }));
    const rows = (['cpc', 'randomEncoder', 'rawPixels'] as const).flatMap((source) => {
      const scores = report[source];
      return scores ? (['linear', 'mlp'] as const).map((head) => ({ step: 0, epoch: report.config.epochs, split: 'test', name: `${source}_${head}_accuracy`, value: scores[head] })) : [];
    });
    await recordMetrics(db, jobId, rows);
    await storeRunFiles(ctx, jobId, runDir, [
      ['probe_head', 'probe/mlp/model.json'],
      ['probe_head', 'probe/mlp/weights.bin'],
      ['probe_head', 'probe/linear/model.json'],
      ['probe_head', 'probe/linear/weights.bin'],
      ['probe_head', 'probe/report.json'],
    ]);
    await finish(db, jobId, 'succeeded', { result: report as unknown as object });
    return report;
  } catch (err) {
    if (cancellation.signal.aborted) {
      await finish(db, jobId, 'cancelled');
      return { cancelled: true };
    }
    throw err;
  } finally {
    cancellation.stop();
  }
}
