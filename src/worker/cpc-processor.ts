/**
 * Sandboxed BullMQ processor (runs in a child process) for CPC training
 * jobs: trains the run in the job's working directory (resuming from its
 * last checkpoint on a retry), streams progress and metrics, stores the
 * checkpoint, encoder and manifest as artifacts, and records the outcome.
 */
import type { SandboxedJob } from 'bullmq';
import { join } from 'node:path';
import { processorContext } from './context.js';
import { watchCancellation } from './cancellation.js';
import { trainRun } from '../cpc/runs.js';
import { resolveConfig, type CpcConfigInput } from '../cpc/config.js';
import { TrainingCancelled } from '../cpc/trainer.js';
import { finish, markRunning, recordMetrics, type MetricRow } from '../store/jobs.js';
import { fetchRunFiles, storeRunFiles } from './run-files.js';
import { existsSync } from 'node:fs';
import type { ArtifactKind } from '../generated/prisma/client.js';

export interface CpcJobData {
  jobId: string;
}

const CHECKPOINT_FILES = ['checkpoint/checkpoint.json', 'checkpoint/checkpoint.bin'];

const FILES: Array<[ArtifactKind, string]> = [
  ['encoder', 'encoder/model.json'],
  ['encoder', 'encoder/weights.bin'],
  ['checkpoint', 'checkpoint/checkpoint.json'],
  ['checkpoint', 'checkpoint/checkpoint.bin'],
  ['cpc', 'manifest.json'],
];

export default async function processCpcJob(job: SandboxedJob<CpcJobData>): Promise<unknown> {
  const ctx = await processorContext();
  const { db } = ctx;
  const { jobId } = job.data;
  const row = await db.job.findUnique({ where: { id: jobId } });
  if (!row) throw new Error(`job ${jobId} is not in the database`);
  if (row.cancelRequested || row.status === 'cancelled') {
    await finish(db, jobId, 'cancelled');
    return { cancelled: true };
  }
  // a job that already reached a final state (e.g. a stale duplicate delivery) is not run again
  if (!(await markRunning(db, jobId, job.attemptsMade + 1, ctx.host, ctx.backend.name))) return { skipped: true };
  const config = resolveConfig({ ...(row.config as CpcConfigInput), workers: ctx.config.TRAIN_WORKERS });
  const runDir = join(ctx.config.ARTIFACT_DIR, 'work', jobId);
  // a retry on another machine resumes from the checkpoint in the artifact store
  if (!existsSync(join(runDir, 'checkpoint', 'checkpoint.json')) && (await db.artifact.count({ where: { jobId, name: CHECKPOINT_FILES[0] } }))) {
    await fetchRunFiles(ctx, jobId, runDir, CHECKPOINT_FILES);
  }

  // writes are chained so they stay ordered and are all awaited before the outcome is recorded
  let writes: Promise<unknown> = Promise.resolve();
  const later = (f: () => Promise<unknown>) => (writes = writes.then(f).catch((err) => job.log(`metric write failed: ${(err as Error).message}`)));

  const cancellation = watchCancellation(db, jobId);
  try {
    const manifest = await trainRun({
      config,
      outDir: runDir,
      resume: true,
      signal: cancellation.signal,
      callbacks: {
        onCheckpoint: async () => {
          // trainRun has written the checkpoint files; keep a copy where any worker can find it
          await storeRunFiles(ctx, jobId, runDir, CHECKPOINT_FILES.map((f) => ['checkpoint', f]));
        },
        onStep: (p) => {
          const every = ctx.config.METRICS_EVERY;
          if (p.step % every !== 0 && p.step !== p.totalSteps) return;
          const epoch = p.epoch;
          const rows: MetricRow[] = [
            { step: p.step, epoch, split: 'train', name: 'loss', value: p.loss },
            { step: p.step, epoch, split: 'train', name: 'accuracy', value: p.accuracy },
            { step: p.step, epoch, split: 'train', name: 'chance', value: p.chance },
            { step: p.step, epoch, split: 'train', name: 'learning_rate', value: p.learningRate },
            { step: p.step, epoch, split: 'train', name: 'images_per_sec', value: p.imagesPerSec },
          ];
          later(async () => {
            await recordMetrics(db, jobId, rows);
            await db.job.update({ where: { id: jobId }, data: { step: p.step, totalSteps: p.totalSteps, progress: p.step / p.totalSteps } });
            await job.updateProgress({ step: p.step, totalSteps: p.totalSteps, loss: p.loss, accuracy: p.accuracy, chance: p.chance, imagesPerSec: p.imagesPerSec });
          });
        },
        onEpoch: (e) => {
          const rows: MetricRow[] = [
            { step: e.step, epoch: e.epoch, split: 'valid', name: 'loss', value: e.validLoss },
            { step: e.step, epoch: e.epoch, split: 'valid', name: 'accuracy', value: e.validAccuracy },
            { step: e.step, epoch: e.epoch, split: 'valid', name: 'chance', value: e.chance },
            { step: e.step, epoch: e.epoch, split: 'train_epoch', name: 'loss', value: e.trainLoss },
            { step: e.step, epoch: e.epoch, split: 'train_epoch', name: 'accuracy', value: e.trainAccuracy },
          ];
          later(() => recordMetrics(db, jobId, rows));
        },
      },
    });
    await writes;
    await storeRunFiles(ctx, jobId, runDir, FILES);
    const test = manifest.result?.test;
    if (test) {
      await recordMetrics(db, jobId, [
        { step: manifest.result!.steps, epoch: config.epochs, split: 'test', name: 'loss', value: test.loss },
        { step: manifest.result!.steps, epoch: config.epochs, split: 'test', name: 'accuracy', value: test.accuracy },
        { step: manifest.result!.steps, epoch: config.epochs, split: 'test', name: 'chance', value: test.chance },
      ]);
    }
    await finish(db, jobId, 'succeeded', { result: manifest.result as object });
    return manifest.result;
  } catch (err) {
    await writes;
    if (err instanceof TrainingCancelled) {
      await finish(db, jobId, 'cancelled');
      return { cancelled: true, step: err.step };
    }
    throw err;
  } finally {
    cancellation.stop();
  }
}
