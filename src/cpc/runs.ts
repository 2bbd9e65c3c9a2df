/**
 * A training run as files: the shape the CLI and the job workers
 * use. Layout of a run directory:
 *   manifest.json          config, seeds, backend, package versions, results
 *   history.jsonl          one line per epoch
 *   checkpoint/            latest checkpoint (checkpoint.json + checkpoint.bin)
 *   encoder/               TF.js layers model of the encoder (+ SHA256SUMS)
 *   probe/{linear,mlp}/    probe heads; probe/report.json
 */
import * as tf from './tf.js';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { CpcConfig } from './config.js';
import { activeBackend, type BackendInfo } from './backend.js';
import { trainCpc, runSeeds, validateNetwork, type TrainCallbacks, type EpochSummary } from './trainer.js';
import { readCheckpointDir, writeCheckpointDir, type Checkpoint } from './checkpoint.js';
import { writeFileAtomic } from '../lib/files.js';
import { encoderAsLayersModel, serializeLayersModel, writeModelDir, loadModelDir } from './export.js';
import { loadDigits, defaultDataDir } from './mnist.js';
import { proceduralTexture } from './texture.js';
import { CpcNetwork } from './model.js';
import { Rng } from './rng.js';
import {
  DEFAULT_PROBE,
  checkProbeSize,
  probeFeatures,
  rawPixelFeatures,
  sampleLabelledImages,
  type ProbeConfig,
  type ProbeScores,
} from './probe.js';
import type { ServableModel } from './inference.js';
import type { ImageStyle } from './images.js';

const require = createRequire(import.meta.url);

export function packageVersions(): Record<string, string> {
  const out: Record<string, string> = { node: process.version };
  for (const pkg of ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm']) {
    try {
      out[pkg] = (require(`${pkg}/package.json`) as { version: string }).version;
    } catch {
      out[pkg] = 'missing';
    }
  }
  return out;
}

export interface RunManifest {
  kind: 'cpc';
  createdAt: string;
  config: CpcConfig;
  seeds: ReturnType<typeof runSeeds>;
  /** what the run trained on: backend, TensorFlow version, device, threads */
  backend: Omit<BackendInfo, 'choice'>;
  versions: Record<string, string>;
  result?: {
    workers: number;
    steps: number;
    completed: boolean;
    seconds: number;
    final: EpochSummary | null;
    test?: { loss: number; accuracy: number; chance: number };
  };
}

function readJson<T>(path: string): T {
  return JSON.parse(readFileSync(path, 'utf8')) as T;
}

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
  const runConfig = resumeFrom ? resumeFrom.meta.config : config;
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
    const data = loadDigits(manifest.config.dataDir ?? defaultDataDir());
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

export interface ProbeReport {
  config: ProbeConfig;
  style: ImageStyle;
  trainImages: number;
  testImages: number;
  cpc: ProbeScores;
  /** absent when the probe ran without baselines */
  randomEncoder?: ProbeScores;
  rawPixels?: ProbeScores;
  seconds: number;
}

export function runStyle(manifest: RunManifest): ImageStyle {
  return { imageSize: manifest.config.imageSize, color: manifest.config.color };
}

/** Probe a finished run's encoder with both heads, beside the two baselines; saves the heads. */
export async function probeRun(
  runDir: string,
  partial: Partial<ProbeConfig> = {},
  signal?: AbortSignal,
  log?: (msg: string) => void,
  baselines = true,
): Promise<ProbeReport> {
  const manifest = readJson<RunManifest>(join(runDir, 'manifest.json'));
  const config: ProbeConfig = { ...DEFAULT_PROBE, seed: manifest.config.seed, leakyAlpha: manifest.config.model.leakyAlpha, ...partial };
  checkProbeSize(config, manifest.config.imageSize);
  const data = loadDigits(manifest.config.dataDir ?? defaultDataDir());
  const texture = proceduralTexture(manifest.config.textureSeed);
  const style = runStyle(manifest);
  const rng = new Rng(config.seed + 101);
  const started = performance.now();
  const train = sampleLabelledImages(data, 'train', config.trainImages, style, texture, rng);
  const test = sampleLabelledImages(data, 'test', config.testImages, style, texture, rng);
  const encoder = await loadModelDir(join(runDir, 'encoder'));
  const random = new CpcNetwork(
    { model: manifest.config.model, imageSize: style.imageSize, predictTerms: manifest.config.predictTerms },
    runSeeds(manifest.config.seed).network + 1,
  );
  try {
    log?.('probing the CPC encoder');
    const cpc = await probeFeatures((x) => encoder.predict(x) as tf.Tensor2D, train, test, config, signal);
    for (const kind of ['linear', 'mlp'] as const) {
      writeModelDir(join(runDir, 'probe', kind), await serializeLayersModel(cpc.heads[kind]));
      cpc.heads[kind].dispose();
    }
    let rnd: ProbeScores | undefined;
    let raw: ProbeScores | undefined;
    if (baselines) {
      log?.('probing a random-init encoder (baseline)');
      const r = await probeFeatures((x) => random.encode(x, false), train, test, config, signal);
      Object.values(r.heads).forEach((h) => h.dispose());
      rnd = r.scores;
      log?.('probing raw pixels (baseline)');
      const p = await probeFeatures(rawPixelFeatures, train, test, config, signal);
      Object.values(p.heads).forEach((h) => h.dispose());
      raw = p.scores;
    }
    const report: ProbeReport = {
      config,
      style,
      trainImages: train.count,
      testImages: test.count,
      cpc: cpc.scores,
      ...(rnd ? { randomEncoder: rnd } : {}),
      ...(raw ? { rawPixels: raw } : {}),
      seconds: (performance.now() - started) / 1000,
    };
    writeFileAtomic(join(runDir, 'probe', 'report.json'), JSON.stringify(report, null, 1));
    return report;
  } finally {
    encoder.dispose();
    random.dispose();
  }
}

/** Load a run's encoder and a probe head for inference. */
export async function loadServable(runDir: string, head: 'linear' | 'mlp' = 'mlp'): Promise<ServableModel> {
  const manifest = readJson<RunManifest>(join(runDir, 'manifest.json'));
  const headDir = join(runDir, 'probe', head);
  if (!existsSync(join(headDir, 'model.json')))
    throw new Error(`${runDir} has no ${head} probe head: run "cpc probe --run ${runDir}" first`);
  return {
    encoder: await loadModelDir(join(runDir, 'encoder')),
    head: await loadModelDir(headDir),
    style: runStyle(manifest),
    texture: proceduralTexture(manifest.config.textureSeed),
  };
}
