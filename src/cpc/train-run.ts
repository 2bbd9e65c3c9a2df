/** A CPC training run as files: train (or resume) in a run directory, export the encoder, test it. */
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { upgradeStoredConfig, workersProblem, ConfigError, MACHINE_FIELDS, type CpcConfig } from './config.js';
import { checkSameData } from './dataset.js';
import { activeBackend } from './backend.js';
import { trainCpc, runSeeds, validateNetwork, type EpochSummary, type TrainCallbacks } from './trainer.js';
import { readCheckpointDir, writeCheckpointDir, type Checkpoint } from './checkpoint.js';
import { writeFileAtomic } from '../lib/files.js';
import { encoderAsLayersModel, serializeLayersModel, writeModelDir } from './export.js';
import { loadDataset, defaultDataDir } from './load-dataset.js';
import { proceduralTexture } from './texture.js';
import { packageVersions, type RunManifest } from './run-manifest.js';

export interface TrainRunOptions {
  config: CpcConfig;
  outDir: string;
  resume?: boolean;
  signal?: AbortSignal;
  callbacks?: TrainCallbacks;
  stopAfterStep?: number;
  /** before the first step: the config that runs (a resumed run's own) and the step it resumes at */
  onStart?(config: CpcConfig, resumedAtStep?: number): void;
}

/**
 * The config a resumed run goes on with: its checkpoint's recipe (a checkpoint older than a field
 * runs as it did then), on the machine that resumes it: `here`'s MACHINE_FIELDS (its data
 * directory when it names one, its worker threads), since a job resumes on any machine and data
 * sets move. Throws ConfigError when those threads cannot split the run's batch.
 */
export function resumedConfig(stored: CpcConfig, here: CpcConfig): CpcConfig {
  const resumed = upgradeStoredConfig({ ...stored }) as unknown as CpcConfig;
  for (const field of MACHINE_FIELDS) if (here[field] !== undefined) Object.assign(resumed, { [field]: here[field] });
  const split = workersProblem(resumed);
  if (split) throw new ConfigError(`the run's ${split}`);
  return resumed;
}

/** Train (or resume) a run in outDir; exports the encoder and evaluates on the test split. */
export async function trainRun(options: TrainRunOptions): Promise<RunManifest> {
  const { config, outDir } = options;
  mkdirSync(outDir, { recursive: true });
  const checkpointDir = join(outDir, 'checkpoint');
  let resumeFrom: Checkpoint | undefined;
  if (options.resume && existsSync(join(checkpointDir, 'checkpoint.json'))) resumeFrom = readCheckpointDir(checkpointDir);
  const backend = activeBackend();
  // (a missing or broken data set, or another than a resumed run's, fails here: before any output or write)
  const runConfig = resumeFrom ? resumedConfig(resumeFrom.meta.config, config) : config;
  const data = loadDataset(runConfig.dataDir ?? defaultDataDir());
  if (resumeFrom?.meta.data) checkSameData(data, resumeFrom.meta.data);
  // data that moved: the checkpoint says where it is now (a finished run writes no other)
  if (resumeFrom && runConfig.dataDir !== resumeFrom.meta.config.dataDir)
    writeCheckpointDir(checkpointDir, {
      ...resumeFrom,
      meta: { ...resumeFrom.meta, config: { ...resumeFrom.meta.config, dataDir: runConfig.dataDir } },
    });
  const manifest: RunManifest = {
    kind: 'cpc',
    createdAt: new Date().toISOString(),
    config: runConfig,
    seeds: runSeeds(runConfig.seed),
    backend: {
      name: backend.name,
      package: backend.package,
      version: backend.version,
      tensorflow: backend.tensorflow,
      device: backend.device,
      gpu: backend.gpu,
      threads: backend.threads,
    },
    versions: packageVersions(),
  };
  writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  options.onStart?.(runConfig, resumeFrom?.meta.step);
  const started = performance.now();
  const result = await trainCpc({
    config: manifest.config,
    data,
    resumeFrom,
    signal: options.signal,
    stopAfterStep: options.stopAfterStep,
    callbacks: {
      ...options.callbacks,
      onEpoch: (e) => {
        appendFileSync(join(outDir, 'history.jsonl'), JSON.stringify(e) + '\n');
        options.callbacks?.onEpoch?.(e);
      },
      onCheckpoint: async (ckpt) => {
        writeCheckpointDir(checkpointDir, ckpt);
        await options.callbacks?.onCheckpoint?.(ckpt);
      },
    },
  });
  try {
    const encoder = encoderAsLayersModel(result.network);
    writeModelDir(join(outDir, 'encoder'), await serializeLayersModel(encoder));
    encoder.dispose();
    const test = result.completed
      ? await validateNetwork(result.network, data, proceduralTexture(manifest.config.textureSeed), manifest.config, 'test')
      : undefined;
    manifest.result = {
      workers: result.workers,
      steps: result.step,
      completed: result.completed,
      seconds: (performance.now() - started) / 1000,
      // (a resumed run that had finished trains no epoch: its last is in the history)
      final: result.epochs.at(-1) ?? (resumeFrom ? lastHistoryEntry(outDir, result.step) : null),
      ...(test ? { test } : {}),
    };
    writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    return manifest;
  } finally {
    result.network.dispose();
  }
}

/** the epoch a run directory's history.jsonl records as ending at `step`, or null (a line cut short by a crash is skipped) */
function lastHistoryEntry(outDir: string, step: number): EpochSummary | null {
  const path = join(outDir, 'history.jsonl');
  if (!existsSync(path)) return null;
  for (const line of readFileSync(path, 'utf8').split('\n').reverse()) {
    try {
      const entry = JSON.parse(line) as EpochSummary;
      if (entry.step === step) return entry;
    } catch {
      // not a whole line
    }
  }
  return null;
}
