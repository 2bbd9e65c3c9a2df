/** Messages between the coordinator and the data-parallel training workers. */
import type { CpcConfig } from '../config.js';
import type { BackendChoice } from '../backend.js';
import type { SharedCollectiveBuffers } from './collective.js';
import type { SharedBatchBuffers } from './shared-batch.js';
import type { Checkpoint } from '../checkpoint.js';
import type { CheckpointState } from '../checkpoint.js';

export interface WorkerInit {
  rank: number;
  size: number;
  backend: BackendChoice;
  config: CpcConfig;
  networkSeed: number;
  collective: SharedCollectiveBuffers;
  batch: SharedBatchBuffers;
}

export type WorkerRequest =
  | { id: number; type: 'train' }
  | { id: number; type: 'eval' }
  | { id: number; type: 'lr'; learningRate: number }
  | { id: number; type: 'tensors' }
  | { id: number; type: 'capture'; state: CheckpointState }
  | { id: number; type: 'restore'; checkpoint: Checkpoint };

export type WorkerReply = { id: number; ok: true; result?: unknown } | { id: number; ok: false; error: string };
