/**
 * A run directory's manifest: what trained it (config, seeds, backend, package versions) and
 * what it scored. Layout of a run directory (train-run.ts writes it, probe-run.ts adds to it):
 *   manifest.json          config, seeds, backend, package versions, results
 *   history.jsonl          one line per epoch
 *   checkpoint/            latest checkpoint (checkpoint.json + checkpoint.bin)
 *   encoder/               TF.js layers model of the encoder (+ SHA256SUMS)
 *   probe/{linear,mlp}/    probe heads; probe/report.json
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createRequire } from 'node:module';
import type { CpcConfig } from './config.js';
import type { BackendInfo } from './backend.js';
import type { runSeeds, EpochSummary } from './trainer.js';
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

/** a path that is not a run directory (code ENOENT, as a missing file's error has) */
export class RunNotFound extends Error {
  readonly code = 'ENOENT';
  constructor(runDir: string) {
    super(`${runDir} is not a run directory (it has no manifest.json; cpc train --out ${runDir} makes one)`);
    this.name = 'RunNotFound';
  }
}

export function readManifest(runDir: string): RunManifest {
  const path = join(runDir, 'manifest.json');
  if (!existsSync(path)) throw new RunNotFound(runDir);
  return JSON.parse(readFileSync(path, 'utf8')) as RunManifest;
}

export function runStyle(manifest: RunManifest): ImageStyle {
  return { imageSize: manifest.config.imageSize, color: manifest.config.color };
}
