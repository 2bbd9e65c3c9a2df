/**
 * The CPC training loop: epochs of seeded batches (grey-to-colour curriculum
 * optional), Adam, validation each epoch, ReduceLROnPlateau, progress
 * callbacks, checkpoints every N steps and at each epoch end, resume from a
 * checkpoint, cancellation through an AbortSignal.
 */
import * as tf from './tf.js';
import { stepsPerEpoch as seedStepsPerEpoch, type CpcConfig } from './config.js';
import { loadDigits, defaultDataDir, type DigitDataset } from './mnist.js';
import { proceduralTexture, type Texture } from './texture.js';
import { SequenceBatcher, type BatchSpec } from './batches.js';
import { CpcNetwork } from './model.js';
import { trainStep, evalStep, type StepMetrics } from './train-step.js';
import { captureCheckpoint, restoreCheckpoint, type Checkpoint, type EpochAccumulator, type ScheduleState } from './checkpoint.js';
import { Rng } from './rng.js';
import type { ColorMode } from './images.js';

export interface StepProgress extends StepMetrics {
  step: number;
  totalSteps: number;
  epoch: number;
  learningRate: number;
  imagesPerSec: number;
  color: ColorMode;
}

export interface EpochSummary {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  validLoss: number;
  validAccuracy: number;
  chance: number;
  learningRate: number;
}

export interface TrainCallbacks {
  onStep?(progress: StepProgress): void;
  onEpoch?(summary: EpochSummary): void;
  onCheckpoint?(checkpoint: Checkpoint): void | Promise<void>;
}

export interface TrainOptions {
  config: CpcConfig;
  data?: DigitDataset;
  resumeFrom?: Checkpoint;
  signal?: AbortSignal;
  callbacks?: TrainCallbacks;
  /** stop after this global step (for tests and interruption); the run can be resumed */
  stopAfterStep?: number;
}

export interface TrainResult {
  network: CpcNetwork;
  step: number;
  epochs: EpochSummary[];
  completed: boolean;
  schedule: ScheduleState;
}

export class TrainingCancelled extends Error {
  constructor(readonly step: number) {
    super(`training cancelled at step ${step}`);
    this.name = 'TrainingCancelled';
  }
}

/** Seeds of the independent random streams of a run, all derived from config.seed. */
export function runSeeds(seed: number): { network: number; data: number; validation: number } {
  const rng = new Rng(seed);
  return { network: rng.deriveSeed(), data: rng.deriveSeed(), validation: rng.deriveSeed() };
}

export function batchSpec(config: CpcConfig, color: ColorMode): BatchSpec {
  return { ...config, color };
}

/** Validation: a fixed set of batches (same seed every epoch), in inference mode. */
export function validate(network: CpcNetwork, data: DigitDataset, texture: Texture, config: CpcConfig, split: 'valid' | 'test' = 'valid'): StepMetrics {
  const batcher = new SequenceBatcher(data, texture, runSeeds(config.seed).validation);
  let loss = 0;
  let accuracy = 0;
  let chance = 0;
  for (let i = 0; i < config.validationSteps; i++) {
    const m = evalStep(network, batcher.next(split, batchSpec(config, config.color)), config);
    loss += m.loss;
    accuracy += m.accuracy;
    chance += m.chance;
  }
  const n = config.validationSteps;
  return { loss: loss / n, accuracy: accuracy / n, chance: chance / n };
}

function setLearningRate(optimizer: tf.Optimizer, lr: number): void {
  (optimizer as unknown as { learningRate: number }).learningRate = lr;
}

/** ReduceLROnPlateau on the validation loss (Keras semantics, min_delta 1e-4). */
export function scheduleAfterEpoch(state: ScheduleState, validLoss: number, config: CpcConfig): ScheduleState {
  if (state.bestValidLoss === null || validLoss < state.bestValidLoss - 1e-4) {
    return { ...state, bestValidLoss: validLoss, badEpochs: 0 };
  }
  const badEpochs = state.badEpochs + 1;
  if (badEpochs > config.lrPatience) {
    return { ...state, learningRate: Math.max(config.minLearningRate, state.learningRate * config.lrFactor), badEpochs: 0 };
  }
  return { ...state, badEpochs };
}

export async function trainCpc(options: TrainOptions): Promise<TrainResult> {
  const { config, signal, callbacks = {} } = options;
  const data = options.data ?? loadDigits(config.dataDir ?? defaultDataDir());
  const texture = proceduralTexture(config.textureSeed);
  const seeds = runSeeds(config.seed);
  const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, seeds.network);
  const optimizer = tf.train.adam(config.learningRate);
  const batcher = new SequenceBatcher(data, texture, seeds.data);
  const perEpoch = seedStepsPerEpoch(config, data.splits.train.count);
  const totalSteps = perEpoch * config.epochs;

  let step = 0;
  let schedule: ScheduleState = { learningRate: config.learningRate, bestValidLoss: null, badEpochs: 0 };
  let acc: EpochAccumulator = { steps: 0, lossSum: 0, accuracySum: 0 };
  const epochs: EpochSummary[] = [];
  try {
    if (options.resumeFrom) {
      const { meta } = options.resumeFrom;
      await restoreCheckpoint(options.resumeFrom, network, optimizer);
      step = meta.step;
      schedule = meta.schedule;
      acc = meta.epochAccumulator;
      batcher.setState(meta.dataRng);
    }
    setLearningRate(optimizer, schedule.learningRate);
    const checkpoint = async () => {
      if (!callbacks.onCheckpoint) return;
      const ckpt = await captureCheckpoint(network, optimizer, {
        step,
        epoch: Math.floor(step / perEpoch),
        config,
        dataRng: batcher.getState(),
        schedule,
        epochAccumulator: acc,
      });
      await callbacks.onCheckpoint(ckpt);
    };

    let completed = true;
    while (step < totalSteps) {
      if (signal?.aborted) {
        await checkpoint();
        throw new TrainingCancelled(step);
      }
      if (options.stopAfterStep !== undefined && step >= options.stopAfterStep) {
        completed = false;
        break;
      }
      const color: ColorMode = step < config.greySteps ? 'grey' : config.color;
      const started = performance.now();
      const batch = batcher.next('train', batchSpec(config, color));
      const metrics = trainStep(network, optimizer, batch, config);
      step += 1;
      acc = { steps: acc.steps + 1, lossSum: acc.lossSum + metrics.loss, accuracySum: acc.accuracySum + metrics.accuracy };
      const seconds = (performance.now() - started) / 1000;
      const epoch = Math.ceil(step / perEpoch);
      callbacks.onStep?.({
        ...metrics,
        step,
        totalSteps,
        epoch,
        learningRate: schedule.learningRate,
        imagesPerSec: (config.batchSize * (config.terms + config.predictTerms)) / seconds,
        color,
      });
      if (step % perEpoch === 0) {
        const valid = validate(network, data, texture, config);
        const summary: EpochSummary = {
          epoch,
          step,
          trainLoss: acc.lossSum / acc.steps,
          trainAccuracy: acc.accuracySum / acc.steps,
          validLoss: valid.loss,
          validAccuracy: valid.accuracy,
          chance: valid.chance,
          learningRate: schedule.learningRate,
        };
        epochs.push(summary);
        callbacks.onEpoch?.(summary);
        schedule = scheduleAfterEpoch(schedule, valid.loss, config);
        setLearningRate(optimizer, schedule.learningRate);
        acc = { steps: 0, lossSum: 0, accuracySum: 0 };
        await checkpoint();
      } else if (config.checkpointEvery > 0 && step % config.checkpointEvery === 0) {
        await checkpoint();
      }
    }
    if (!completed) await checkpoint();
    return { network, step, epochs, completed, schedule };
  } catch (err) {
    network.dispose();
    throw err;
  } finally {
    optimizer.dispose();
  }
}
