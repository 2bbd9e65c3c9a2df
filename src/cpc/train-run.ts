/** A CPC training run as files: train (or resume) in a run directory, export the encoder, test it. */
import { appendFileSync, existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { upgradeStoredConfig, type CpcConfig } from './config.js';
import { activeBackend } from './backend.js';
import { trainCpc, runSeeds, validateNetwork, type TrainCallbacks } from './trainer.js';
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
}

/** Train (or resume) a run in outDir; exports the encoder and evaluates on the test split. */
export async function trainRun(options: TrainRunOptions): Promise<RunManifest> {
  const { config, outDir } = options;
  mkdirSync(outDir, { recursive: true });
  const checkpointDir = join(outDir, 'checkpoint');
  let resumeFrom: Checkpoint | undefined;
  if (options.resume && existsSync(join(checkpointDir, 'checkpoint.json'))) resumeFrom = readCheckpointDir(checkpointDir);
  const backend = activeBackend();
  // a resumed run continues with the configuration it was started with
  // (a checkpoint older than a field runs as it did then)
  const runConfig = resumeFrom ? (upgradeStoredConfig({ ...resumeFrom.meta.config }) as unknown as CpcConfig) : config;
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
  const started = performance.now();
  const result = await trainCpc({
    config: manifest.config,
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
    const data = loadDataset(manifest.config.dataDir ?? defaultDataDir());
    const test = result.completed
      ? await validateNetwork(result.network, data, proceduralTexture(manifest.config.textureSeed), manifest.config, 'test')
      : undefined;
    manifest.result = {
      workers: result.workers,
      steps: result.step,
      completed: result.completed,
      seconds: (performance.now() - started) / 1000,
      final: result.epochs.at(-1) ?? null,
      ...(test ? { test } : {}),
    };
    writeFileAtomic(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1));
    return manifest;
  } finally {
    result.network.dispose();
  }
}
