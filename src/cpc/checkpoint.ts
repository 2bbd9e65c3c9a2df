/**
 * Checkpoints: every variable of the network, the optimizer state, the RNG
 * state of the data stream, the schedule state and the step, as one JSON
 * manifest plus one binary blob (TensorFlow.js weight encoding), so a run
 * resumed from it continues exactly as the uninterrupted run would.
 */
import * as tf from './tf.js';
import { mkdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../lib/files.js';
import { sha256Hex } from '../lib/hash.js';
import type { CpcConfig } from './config.js';
import type { RngState } from './rng.js';
import type { CpcNetwork } from './model.js';
import type { Adam } from './adam.js';
import type { DataShape } from './dataset.js';

export const CHECKPOINT_VERSION = 2;

export interface ScheduleState {
  learningRate: number;
  bestValidLoss: number | null;
  badEpochs: number;
}

export interface EpochAccumulator {
  steps: number;
  lossSum: number;
  accuracySum: number;
}

export interface CheckpointMeta {
  version: number;
  step: number;
  epoch: number;
  config: CpcConfig;
  dataRng: RngState;
  schedule: ScheduleState;
  epochAccumulator: EpochAccumulator;
  /** the data set trained on (absent in checkpoints from before it was recorded) */
  data?: DataShape;
  weightSpecs: tf.io.WeightsManifestEntry[];
  networkWeights: string[];
  optimizerWeights: string[];
  optimizerStep: number;
}

export interface Checkpoint {
  meta: CheckpointMeta;
  weights: ArrayBuffer;
}

export type CheckpointState = Omit<CheckpointMeta, 'version' | 'weightSpecs' | 'networkWeights' | 'optimizerWeights' | 'optimizerStep'>;

export async function captureCheckpoint(network: CpcNetwork, optimizer: Adam, meta: CheckpointState): Promise<Checkpoint> {
  const named: tf.NamedTensorMap = {};
  const networkWeights: string[] = [];
  for (const [name, v] of network.allVariables()) {
    named[`net/${name}`] = v;
    networkWeights.push(name);
  }
  const optimizerWeights: string[] = [];
  for (const [name, tensor] of Object.entries(optimizer.stateTensors())) {
    named[`opt/${name}`] = tensor;
    optimizerWeights.push(name);
  }
  const { data, specs } = await tf.io.encodeWeights(named);
  return {
    meta: { ...meta, version: CHECKPOINT_VERSION, weightSpecs: specs, networkWeights, optimizerWeights, optimizerStep: optimizer.step },
    weights: data,
  };
}

/** Load a checkpoint into a network and, when given, the optimizer (without one: weights only, e.g. for export). */
export async function restoreCheckpoint(checkpoint: Checkpoint, network: CpcNetwork, optimizer?: Adam): Promise<void> {
  const { meta } = checkpoint;
  if (meta.version !== CHECKPOINT_VERSION) throw new Error(`unsupported checkpoint version ${meta.version}`);
  const tensors = tf.io.decodeWeights(checkpoint.weights, meta.weightSpecs);
  try {
    const vars = network.allVariables();
    for (const name of meta.networkWeights) {
      const v = vars.get(name);
      const t = tensors[`net/${name}`];
      if (!v || !t) throw new Error(`checkpoint weight ${name} does not match the network`);
      if (v.shape.join() !== t.shape.join())
        throw new Error(`checkpoint weight ${name} has shape [${t.shape}] but the network needs [${v.shape}]`);
      v.assign(t);
    }
    if (meta.networkWeights.length !== vars.size)
      throw new Error(`checkpoint has ${meta.networkWeights.length} network weights, the network ${vars.size}`);
    optimizer?.restore(meta.optimizerStep, Object.fromEntries(meta.optimizerWeights.map((name) => [name, tensors[`opt/${name}`]])));
  } finally {
    tf.dispose(Object.values(tensors));
  }
}

/** A checkpoint as two files in `dir`: checkpoint.json (with the sha256 of the blob) and checkpoint.bin. */
export function writeCheckpointDir(dir: string, checkpoint: Checkpoint): void {
  mkdirSync(dir, { recursive: true });
  const bytes = new Uint8Array(checkpoint.weights);
  writeFileAtomic(join(dir, 'checkpoint.bin'), bytes);
  writeFileAtomic(join(dir, 'checkpoint.json'), JSON.stringify({ ...checkpoint.meta, weightsSha256: sha256Hex(bytes) }, null, 1));
}

export function readCheckpointDir(dir: string): Checkpoint {
  const meta = JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8')) as CheckpointMeta & { weightsSha256?: string };
  const bytes = readFileSync(join(dir, 'checkpoint.bin'));
  if (meta.weightsSha256 && sha256Hex(bytes) !== meta.weightsSha256) throw new Error(`${dir}/checkpoint.bin does not match its sha256`);
  const weights = bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength) as ArrayBuffer;
  return { meta, weights };
}
