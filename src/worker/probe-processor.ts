/**
 * Sandboxed BullMQ processor for probe jobs: fetches the frozen encoder of a
 * finished CPC job, trains the linear and MLP heads beside the raw-pixel and
 * random-encoder baselines, stores the heads and the report.
 */
import type { SandboxedJob } from 'bullmq';
import type { JobPayload } from '../queue/queues.js';
import { processorContext } from './context.js';
import { datasetDir } from './dataset-cache.js';
import { runAttempt } from './attempt.js';
import { probeRun } from '../cpc/probe-run.js';
import type { ProbeConfig } from '../cpc/probe.js';
import { metricRows, recordMetrics } from '../store/jobs.js';
import { fetchRunFiles, storeRunFiles } from './run-files.js';
import { NEIGHBOUR_INDEX_FILE } from '../cpc/neighbours.js';

export default async function processProbeJob(job: SandboxedJob<JobPayload>, token?: string, signal?: AbortSignal): Promise<unknown> {
  const ctx = await processorContext();
  return runAttempt(ctx, job, token, signal, async (attempt) => {
    const { row } = attempt;
    const { jobId } = attempt.lease;
    if (!row.parentJobId) throw new Error(`probe job ${jobId} names no CPC job`);
    const runDir = attempt.workDir;
    await fetchRunFiles(ctx, row.parentJobId, runDir, ['manifest.json', 'encoder/model.json', 'encoder/weights.bin']);
    void job.updateProgress({ phase: 'probing' }).catch(() => undefined);
    const report = await probeRun(runDir, {
      config: row.config as Partial<ProbeConfig>,
      dataDir: await datasetDir(ctx, row.datasetId),
      signal: attempt.signal,
      log: (msg) => {
        attempt.log(msg);
        void job.updateProgress({ phase: msg }).catch(() => undefined);
      },
    });
    const rows = (['cpc', 'randomEncoder', 'rawPixels'] as const).flatMap((source) => {
      const scores = report[source];
      return scores
        ? metricRows(0, report.config.epochs, 'test', {
            [`${source}_linear_accuracy`]: scores.linear,
            [`${source}_mlp_accuracy`]: scores.mlp,
          })
        : [];
    });
    await attempt.write((tx) => recordMetrics(tx, jobId, rows));
    await storeRunFiles(ctx, attempt, runDir, [
      ['probe_head', 'probe/mlp/model.json'],
      ['probe_head', 'probe/mlp/weights.bin'],
      ['probe_head', 'probe/linear/model.json'],
      ['probe_head', 'probe/linear/weights.bin'],
      ['probe_head', 'probe/report.json'],
      ['probe_head', NEIGHBOUR_INDEX_FILE],
    ]);
    return report as unknown as object;
  });
}
