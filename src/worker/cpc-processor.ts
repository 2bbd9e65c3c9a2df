/**
 * Sandboxed BullMQ processor (runs in a child process) for CPC training
 * jobs: trains the run in the job's working directory (resuming from its
 * last checkpoint on a retry), streams progress and metrics, stores the
 * checkpoint, encoder and manifest as artifacts. Ownership, heartbeat and
 * the recorded outcome are runAttempt's job.
 */
import type { SandboxedJob } from 'bullmq';
import type { JobPayload } from '../queue/queues.js';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { processorContext } from './context.js';
import { datasetDir } from './dataset-cache.js';
import { recordedError, runAttempt } from './attempt.js';
import { trainRun } from '../cpc/train-run.js';
import { resolveConfig, upgradeStoredConfig, type CpcConfigInput } from '../cpc/config.js';
import { metricRows, recordMetrics, recordProgress } from '../store/jobs.js';
import { ArtifactsRepository, SAMPLES_ARTIFACT } from '../store/artifacts.js';
import { loadDataset } from '../cpc/load-dataset.js';
import { sequenceGrid } from '../cpc/sample-grid.js';
import { fetchRunFiles, storeRunFiles } from './run-files.js';
import type { ArtifactKind } from '../generated/prisma/client.js';

const CHECKPOINT_FILES = ['checkpoint/checkpoint.json', 'checkpoint/checkpoint.bin'];
/** rows of the samples grid: one batch of the job's data and config, positive and negative sequences */
const SAMPLE_ROWS = 8;

const FILES: Array<[ArtifactKind, string]> = [
  ['encoder', 'encoder/model.json'],
  ['encoder', 'encoder/weights.bin'],
  ['checkpoint', 'checkpoint/checkpoint.json'],
  ['checkpoint', 'checkpoint/checkpoint.bin'],
  ['cpc', 'manifest.json'],
];

export default async function processCpcJob(job: SandboxedJob<JobPayload>, token?: string, signal?: AbortSignal): Promise<unknown> {
  const ctx = await processorContext();
  return runAttempt(ctx, job, token, signal, async (attempt) => {
    const { jobId } = attempt.lease;
    const dataDir = await datasetDir(ctx, attempt.row.datasetId);
    const stored = upgradeStoredConfig(attempt.row.config as Record<string, unknown>) as CpcConfigInput;
    const config = resolveConfig({ ...stored, workers: ctx.config.TRAIN_WORKERS, dataDir });
    const runDir = attempt.workDir;
    const artifacts = new ArtifactsRepository(ctx.db);
    // what the job trains on, drawn once (GET /v1/jobs/:id/samples.png); a picture, so a failure only costs the picture
    if (!(await artifacts.exists(jobId, SAMPLES_ARTIFACT))) {
      try {
        mkdirSync(join(runDir, 'plots'), { recursive: true });
        writeFileSync(join(runDir, SAMPLES_ARTIFACT), sequenceGrid(loadDataset(dataDir), config, SAMPLE_ROWS, config.seed).png);
        await storeRunFiles(ctx, attempt, runDir, [['plot', SAMPLES_ARTIFACT]]);
      } catch (err) {
        attempt.log(`could not draw the sample sequences: ${recordedError(err as Error)}`, 'warn');
      }
    }
    // a retry (on any machine) resumes from the checkpoint in the artifact store
    if (await artifacts.exists(jobId, CHECKPOINT_FILES[0])) {
      await fetchRunFiles(ctx, jobId, runDir, CHECKPOINT_FILES);
      const { step } = JSON.parse(readFileSync(join(runDir, CHECKPOINT_FILES[0]), 'utf8')) as { step: number };
      attempt.log(`attempt ${attempt.lease.attempts}: resuming from the checkpoint at step ${step}`);
    } else {
      attempt.log(`attempt ${attempt.lease.attempts}: starting at step 0`);
    }
    const manifest = await trainRun({
      config,
      outDir: runDir,
      resume: true,
      signal: attempt.signal,
      callbacks: {
        onCheckpoint: async () => {
          // trainRun has written the checkpoint files; keep a copy where any worker can find it
          await attempt.flush();
          await storeRunFiles(
            ctx,
            attempt,
            runDir,
            CHECKPOINT_FILES.map((f) => ['checkpoint', f]),
          );
          attempt.log('checkpoint stored');
        },
        onStep: (p) => {
          if (p.step % ctx.config.METRICS_EVERY !== 0 && p.step !== p.totalSteps) return;
          const rows = metricRows(p.step, p.epoch, 'train', {
            loss: p.loss,
            accuracy: p.accuracy,
            chance: p.chance,
            learning_rate: p.learningRate,
            images_per_sec: p.imagesPerSec,
          });
          attempt.later(async (tx) => {
            await recordMetrics(tx, jobId, rows);
            await recordProgress(tx, jobId, p.step, p.totalSteps);
          });
          void job
            .updateProgress({
              step: p.step,
              totalSteps: p.totalSteps,
              loss: p.loss,
              accuracy: p.accuracy,
              chance: p.chance,
              imagesPerSec: p.imagesPerSec,
            })
            .catch(() => undefined);
        },
        onEpoch: (e) => {
          attempt.log(
            `epoch ${e.epoch} (step ${e.step}): train loss ${fmt(e.trainLoss)}, accuracy ${fmt(e.trainAccuracy)}; ` +
              `validation loss ${fmt(e.validLoss)}, accuracy ${fmt(e.validAccuracy)} (chance ${fmt(e.chance)})`,
          );
          const rows = [
            ...metricRows(e.step, e.epoch, 'valid', { loss: e.validLoss, accuracy: e.validAccuracy, chance: e.chance }),
            ...metricRows(e.step, e.epoch, 'train_epoch', { loss: e.trainLoss, accuracy: e.trainAccuracy }),
          ];
          attempt.later((tx) => recordMetrics(tx, jobId, rows));
        },
      },
    });
    await attempt.flush();
    await storeRunFiles(ctx, attempt, runDir, FILES);
    const result = manifest.result!;
    if (result.test) {
      const { test } = result;
      attempt.log(`test: loss ${fmt(test.loss)}, contrastive accuracy ${fmt(test.accuracy)} (chance ${fmt(test.chance)})`);
      await attempt.write((tx) =>
        recordMetrics(
          tx,
          jobId,
          metricRows(result.steps, config.epochs, 'test', { loss: test.loss, accuracy: test.accuracy, chance: test.chance }),
        ),
      );
    }
    return result;
  });
}

/** a metric in a log line */
const fmt = (x: number) => (Number.isFinite(x) ? Number(x.toPrecision(4)).toString() : String(x));
