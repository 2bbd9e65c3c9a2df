/**
 * The CPC training loop: epochs of seeded batches (grey-to-colour curriculum
 * optional), Adam, validation each epoch, ReduceLROnPlateau or a cosine decay, progress
 * callbacks, checkpoints every N steps and at each epoch end, resume from a
 * checkpoint, cancellation through an AbortSignal.
 */
import { stepsPerEpoch as seedStepsPerEpoch, type CpcConfig } from './config.js';
import { dataShape, type ImageDataset } from './dataset.js';
import { loadDataset, defaultDataDir } from './load-dataset.js';
import { proceduralTexture, type Texture } from './texture.js';
import { SequenceBatcher, type BatchSpec, type SequenceBatch } from './batches.js';
import type { CpcNetwork } from './model.js';
import { evalStep, type StepMetrics } from './train-step.js';
import type { Checkpoint, EpochAccumulator, ScheduleState } from './checkpoint.js';
import { Rng } from './rng.js';
import type { ColorMode } from './images.js';
import type { Augment } from './augment.js';
import { availableParallelism } from 'node:os';
import { activeBackend } from './backend.js';
import { LocalStepper, type Stepper } from './stepper.js';
import { ParallelStepper } from './parallel/pool.js';

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
  data?: ImageDataset;
  resumeFrom?: Checkpoint;
  signal?: AbortSignal;
  callbacks?: TrainCallbacks;
  /** stop after this global step (for tests and interruption); the run can be resumed */
  stopAfterStep?: number;
}

export interface TrainResult {
  network: CpcNetwork;
  workers: number;
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

/** what a batch of `config`'s run is drawn as: validation and test batches are never augmented */
export function batchSpec(config: CpcConfig, color: ColorMode, augment: Augment = 'none'): BatchSpec {
  return { ...config, color, augment };
}

/** Validation: a fixed set of batches (same seed every epoch), in inference mode. */
export async function validate(
  evaluate: (batch: SequenceBatch) => Promise<StepMetrics> | StepMetrics,
  data: ImageDataset,
  texture: Texture,
  config: CpcConfig,
  split: 'valid' | 'test' = 'valid',
): Promise<StepMetrics> {
  const batcher = new SequenceBatcher(data, texture, runSeeds(config.seed).validation);
  let loss = 0;
  let accuracy = 0;
  let chance = 0;
  for (let i = 0; i < config.validationSteps; i++) {
    const m = await evaluate(batcher.next(split, batchSpec(config, config.color)));
    loss += m.loss;
    accuracy += m.accuracy;
    chance += m.chance;
  }
  const n = config.validationSteps;
  return { loss: loss / n, accuracy: accuracy / n, chance: chance / n };
}

/** Validation of a network held in this thread. */
export function validateNetwork(
  network: CpcNetwork,
  data: ImageDataset,
  texture: Texture,
  config: CpcConfig,
  split: 'valid' | 'test' = 'valid',
): Promise<StepMetrics> {
  return validate((batch) => evalStep(network, batch, config), data, texture, config, split);
}

/** Worker threads for a run: config.workers, or (0) one per core where the backend uses a single core. */
export function resolveWorkers(config: CpcConfig): number {
  if (config.workers > 0) return config.workers;
  if (activeBackend().name === 'tensorflow') return 1;
  let workers = Math.max(1, availableParallelism());
  while (config.batchSize % workers !== 0) workers--;
  return workers;
}

export async function createStepper(config: CpcConfig, networkSeed: number, workers: number): Promise<Stepper> {
  if (workers <= 1) return new LocalStepper(config, networkSeed);
  return ParallelStepper.start(config, networkSeed, workers, activeBackend().choice);
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

/** The cosine schedule's rate for the step about to be taken (0-based) of `totalSteps`: learningRate down to minLearningRate. */
export function cosineRate(config: CpcConfig, step: number, totalSteps: number): number {
  const floor = config.minLearningRate; // (validateConfig: at most learningRate)
  const progress = Math.min(1, step / Math.max(1, totalSteps - 1));
  return floor + (config.learningRate - floor) * 0.5 * (1 + Math.cos(Math.PI * progress));
}

export async function trainCpc(options: TrainOptions): Promise<TrainResult> {
  const { config, signal, callbacks = {} } = options;
  const data = options.data ?? loadDataset(config.dataDir ?? defaultDataDir());
  const texture = proceduralTexture(config.textureSeed);
  const seeds = runSeeds(config.seed);
  const workers = resolveWorkers(config);
  const stepper = await createStepper(config, seeds.network, workers);
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
      await stepper.restore(options.resumeFrom);
      step = meta.step;
      schedule = meta.schedule;
      acc = meta.epochAccumulator;
      batcher.setState(meta.dataRng);
    }
    await stepper.setLearningRate(schedule.learningRate);
    const checkpoint = async () => {
      if (!callbacks.onCheckpoint) return;
      const ckpt = await stepper.capture({
        step,
        epoch: Math.floor(step / perEpoch),
        config,
        dataRng: batcher.getState(),
        schedule,
        epochAccumulator: acc,
        data: dataShape(data),
      });
      await callbacks.onCheckpoint(ckpt);
    };

    let completed = true;
    while (step < totalSteps) {
      // let timers and I/O run between steps (cancellation polls, progress writes):
      // a single-thread step resolves without ever returning to the event loop
      await new Promise((resolve) => setImmediate(resolve));
      if (signal?.aborted) {
        await checkpoint();
        throw new TrainingCancelled(step);
      }
      if (options.stopAfterStep !== undefined && step >= options.stopAfterStep) {
        completed = false;
        break;
      }
      const color: ColorMode = step < config.greySteps ? 'grey' : config.color;
      if (config.lrSchedule === 'cosine') {
        const rate = cosineRate(config, step, totalSteps);
        if (rate !== schedule.learningRate) {
          schedule = { ...schedule, learningRate: rate };
          await stepper.setLearningRate(rate);
        }
      }
      const started = performance.now();
      const batch = batcher.next('train', batchSpec(config, color, config.augment));
      const metrics = await stepper.train(batch);
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
        const valid = await validate((b) => stepper.evaluate(b), data, texture, config);
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
        // the plateau schedule watches the target task only: not during a grey warm-up,
        // whose colour validation loss says nothing about progress on the grey batches
        if (config.lrSchedule === 'plateau' && step > config.greySteps) {
          schedule = scheduleAfterEpoch(schedule, valid.loss, config);
          await stepper.setLearningRate(schedule.learningRate);
        }
        acc = { steps: 0, lossSum: 0, accuracySum: 0 };
        await checkpoint();
      } else if (config.checkpointEvery > 0 && step % config.checkpointEvery === 0) {
        await checkpoint();
      }
    }
    if (!completed) await checkpoint();
    return { network: await stepper.exportNetwork(), workers, step, epochs, completed, schedule };
  } finally {
    await stepper.dispose();
  }
}
