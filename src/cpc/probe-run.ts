/** Probes of a finished run's frozen encoder (linear and MLP heads) beside their baselines, as files. */
import * as tf from './tf.js';
import { join } from 'node:path';
import { runSeeds } from './trainer.js';
import { writeFileAtomic } from '../lib/files.js';
import { serializeLayersModel, writeModelDir, loadModelDir } from './export.js';
import { loadDataset, defaultDataDir } from './load-dataset.js';
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
import type { ImageStyle } from './images.js';
import { readManifest, runStyle } from './run-manifest.js';
import { buildNeighbourIndex, DEFAULT_INDEX_SIZE, NEIGHBOUR_INDEX_FILE, serializeNeighbourIndex } from './neighbours.js';

export interface ProbeReport {
  config: ProbeConfig;
  /** the probed data set's classes, in label order (what the heads' outputs mean) */
  classNames: string[];
  /** the size of the data set's own images, when not 28x28 (predictions take that size too) */
  sourceImage?: { width: number; height: number };
  style: ImageStyle;
  trainImages: number;
  testImages: number;
  cpc: ProbeScores;
  /** absent when the probe ran without baselines */
  randomEncoder?: ProbeScores;
  rawPixels?: ProbeScores;
  seconds: number;
}

export interface ProbeRunOptions {
  config?: Partial<ProbeConfig>;
  /** the data set to probe on (default: the run's own) */
  dataDir?: string;
  signal?: AbortSignal;
  log?: (msg: string) => void;
  /** also probe a random-init encoder and raw pixels (default true) */
  baselines?: boolean;
}

/** Probe a finished run's encoder with both heads, beside the two baselines; saves the heads. */
export async function probeRun(runDir: string, options: ProbeRunOptions = {}): Promise<ProbeReport> {
  const { signal, log, baselines = true } = options;
  const manifest = readManifest(runDir);
  const config: ProbeConfig = {
    ...DEFAULT_PROBE,
    seed: manifest.config.seed,
    leakyAlpha: manifest.config.model.leakyAlpha,
    ...options.config,
  };
  checkProbeSize(config, manifest.config.imageSize);
  const data = loadDataset(options.dataDir ?? manifest.config.dataDir ?? defaultDataDir());
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
    log?.('indexing training images for nearest neighbours');
    const index = buildNeighbourIndex(encoder, { style, texture }, data, DEFAULT_INDEX_SIZE, config.seed);
    writeFileAtomic(join(runDir, NEIGHBOUR_INDEX_FILE), serializeNeighbourIndex(index));
    let rnd: ProbeScores | undefined;
    let raw: ProbeScores | undefined;
    if (baselines) {
      log?.('probing a random-init encoder (baseline)');
      const r = await probeFeatures((x) => random.encode(x, { training: false }), train, test, config, signal);
      Object.values(r.heads).forEach((h) => h.dispose());
      rnd = r.scores;
      log?.('probing raw pixels (baseline)');
      const p = await probeFeatures(rawPixelFeatures, train, test, config, signal);
      Object.values(p.heads).forEach((h) => h.dispose());
      raw = p.scores;
    }
    const report: ProbeReport = {
      config,
      classNames: data.classNames,
      ...(data.sourceImage ? { sourceImage: data.sourceImage } : {}),
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
