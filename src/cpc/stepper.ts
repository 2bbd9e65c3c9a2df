/**
 * Where the optimisation steps run: in this thread (`LocalStepper`) or on
 * data-parallel worker threads (`ParallelStepper`, ./parallel/pool.ts). The
 * trainer talks to this interface only.
 */
import type { CpcConfig } from './config.js';
import { CpcNetwork } from './model.js';
import type { SequenceBatch } from './batches.js';
import { Replica } from './replica.js';
import { trainStep, evalStep, type StepMetrics } from './train-step.js';
import { captureCheckpoint, restoreCheckpoint, type Checkpoint, type CheckpointState } from './checkpoint.js';
import { Adam } from './adam.js';

export type { CheckpointState } from './checkpoint.js';

export interface Stepper {
  readonly workers: number;
  train(batch: SequenceBatch): Promise<StepMetrics>;
  evaluate(batch: SequenceBatch): Promise<StepMetrics>;
  setLearningRate(lr: number): Promise<void>;
  capture(state: CheckpointState): Promise<Checkpoint>;
  restore(checkpoint: Checkpoint): Promise<void>;
  /** A network in this thread holding the current weights (the caller disposes it). */
  exportNetwork(): Promise<CpcNetwork>;
  dispose(): Promise<void>;
}

export function networkFor(config: CpcConfig, seed: number): CpcNetwork {
  return new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, seed);
}

export class LocalStepper implements Stepper {
  readonly workers = 1;
  private readonly network: CpcNetwork;
  private readonly optimizer: Adam;

  constructor(
    private readonly config: CpcConfig,
    networkSeed: number,
  ) {
    this.network = networkFor(config, networkSeed);
    this.optimizer = new Adam({ learningRate: config.learningRate });
  }

  async train(batch: SequenceBatch): Promise<StepMetrics> {
    return trainStep(new Replica(this.network, this.optimizer), batch, this.config);
  }

  async evaluate(batch: SequenceBatch): Promise<StepMetrics> {
    return evalStep(this.network, batch, this.config);
  }

  async setLearningRate(lr: number): Promise<void> {
    this.optimizer.learningRate = lr;
  }

  capture(state: CheckpointState): Promise<Checkpoint> {
    return captureCheckpoint(this.network, this.optimizer, state);
  }

  restore(checkpoint: Checkpoint): Promise<void> {
    return restoreCheckpoint(checkpoint, this.network, this.optimizer);
  }

  async exportNetwork(): Promise<CpcNetwork> {
    const copy = networkFor(this.config, 0);
    for (const [name, v] of this.network.allVariables()) copy.p(name).assign(v);
    return copy;
  }

  async dispose(): Promise<void> {
    this.network.dispose();
    this.optimizer.dispose();
  }
}
