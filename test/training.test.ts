import { it, expect, beforeAll } from 'vitest';
import * as tf from '../src/cpc/tf.js';
import { initBackend } from '../src/cpc/backend.js';
import { trainCpc, scheduleAfterEpoch, type StepProgress } from '../src/cpc/trainer.js';
import { CpcNetwork } from '../src/cpc/model.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import { SequenceBatcher } from '../src/cpc/batches.js';
import { trainStep, evalStep } from '../src/cpc/train-step.js';
import { Replica } from '../src/cpc/replica.js';
import type { Checkpoint } from '../src/cpc/checkpoint.js';
import { Adam } from '../src/cpc/adam.js';
import { tinyConfig, TEST_BACKEND, BACKEND_SKIP_REASON, describeOnBackend } from './helpers.js';

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) await initBackend(TEST_BACKEND);
});

async function weightsOf(network: CpcNetwork): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const [name, v] of network.allVariables()) out.set(name, (await v.data()) as Float32Array);
  return out;
}

describeOnBackend('ReduceLROnPlateau', () => {
  it('divides the rate by 3 after more than `patience` epochs without improvement, down to the minimum', () => {
    const config = tinyConfig({ learningRate: 1e-3, lrPatience: 2, lrFactor: 1 / 3, minLearningRate: 2e-4 });
    let state = { learningRate: 1e-3, bestValidLoss: null as number | null, badEpochs: 0 };
    const rates: number[] = [];
    for (const loss of [1, 0.9, 0.95, 0.91, 0.92, 0.8, 0.85, 0.86, 0.87, 0.88, 0.89, 0.9]) {
      state = scheduleAfterEpoch(state, loss, config);
      rates.push(+state.learningRate.toPrecision(3));
    }
    expect(rates).toEqual([1e-3, 1e-3, 1e-3, 1e-3, 3.33e-4, 3.33e-4, 3.33e-4, 3.33e-4, 2e-4, 2e-4, 2e-4, 2e-4]);
  });
});

describeOnBackend('training', () => {
  for (const loss of ['binary', 'infonce'] as const) {
    it(`keeps the tensor count flat across ${loss} train and eval steps`, () => {
      const config = tinyConfig({ loss });
      const network = new CpcNetwork({ model: config.model, imageSize: config.imageSize, predictTerms: config.predictTerms }, 1);
      const optimizer = new Adam({ learningRate: 1e-3 });
      const batcher = new SequenceBatcher(loadDataset(), proceduralTexture(1), 2);
      trainStep(new Replica(network, optimizer), batcher.next('train', config), config); // creates the optimizer slots
      const before = tf.memory().numTensors;
      for (let i = 0; i < 4; i++) {
        trainStep(new Replica(network, optimizer), batcher.next('train', config), config);
        evalStep(network, batcher.next('valid', config), config);
        expect(tf.memory().numTensors).toBe(before);
      }
      network.dispose();
      optimizer.dispose();
    });
  }

  it('decays a cosine schedule from the learning rate to the floor over the run, one rate per step', async () => {
    const config = tinyConfig({ stepsPerEpoch: 3, epochs: 2, lrSchedule: 'cosine', learningRate: 1e-3, minLearningRate: 1e-4 });
    const rates: number[] = [];
    const result = await trainCpc({ config, callbacks: { onStep: (p) => rates.push(p.learningRate) } });
    expect(rates[0]).toBe(1e-3);
    expect(rates.at(-1)).toBeCloseTo(1e-4, 12);
    expect(rates[2]).toBeCloseTo(1e-4 + 9e-4 * 0.5 * (1 + Math.cos((Math.PI * 2) / 5)), 12);
    for (let i = 1; i < rates.length; i++) expect(rates[i]).toBeLessThan(rates[i - 1]);
    // the epoch summaries state the rate of their last step, not a plateau decision
    expect(result.epochs.map((e) => e.learningRate)).toEqual([rates[2], rates[5]]);
    result.network.dispose();
  });

  for (const lrSchedule of ['plateau', 'cosine'] as const)
    it(`resumes from a mid-epoch checkpoint to exactly the uninterrupted result (${lrSchedule} schedule)`, async () => {
      const config = tinyConfig({ stepsPerEpoch: 6, epochs: 2, checkpointEvery: 4, lrSchedule });
      const full = await trainCpc({ config });
      const fullWeights = await weightsOf(full.network);

      let saved: Checkpoint | null = null;
      const partial = await trainCpc({ config, stopAfterStep: 8, callbacks: { onCheckpoint: (c) => void (saved = c) } });
      expect(partial.completed).toBe(false);
      expect(saved!.meta.step).toBe(8);
      // perturb nothing in between: a fresh process would start from the checkpoint alone
      partial.network.dispose();
      const resumed = await trainCpc({ config, resumeFrom: saved! });
      expect(resumed.completed).toBe(true);
      expect(resumed.step).toBe(12);
      const resumedWeights = await weightsOf(resumed.network);
      for (const [name, w] of fullWeights) expect(Array.from(resumedWeights.get(name)!), name).toEqual(Array.from(w));
      expect(resumed.epochs.at(-1)).toEqual(full.epochs.at(-1));
      full.network.dispose();
      resumed.network.dispose();
    });

  it('cancels through an AbortSignal with a final checkpoint', async () => {
    const controller = new AbortController();
    const checkpoints: number[] = [];
    const run = trainCpc({
      config: tinyConfig({ checkpointEvery: 0 }),
      signal: controller.signal,
      callbacks: {
        onStep: (p) => {
          if (p.step === 3) controller.abort();
        },
        onCheckpoint: (c) => void checkpoints.push(c.meta.step),
      },
    });
    await expect(run).rejects.toThrow(/cancelled at step 3/);
    expect(checkpoints).toEqual([3]);
  });

  for (const loss of ['binary', 'infonce'] as const) {
    it(`learns: loss falls and accuracy rises above chance within a hundred steps (${loss}, grey 28px)`, async () => {
      const config = tinyConfig({
        stepsPerEpoch: 100,
        epochs: 1,
        validationSteps: 8,
        batchSize: 32,
        task: 'same',
        learningRate: 3e-3,
        seed: 1,
        loss,
      });
      const steps: StepProgress[] = [];
      const result = await trainCpc({ config, callbacks: { onStep: (p) => void steps.push(p) } });
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const firstLoss = mean(steps.slice(0, 10).map((s) => s.loss));
      const lastLoss = mean(steps.slice(-10).map((s) => s.loss));
      const valid = result.epochs[0];
      expect(lastLoss).toBeLessThan(firstLoss - 0.1);
      expect(valid.validAccuracy).toBeGreaterThan(valid.chance + 0.1);
      result.network.dispose();
    });
  }
});
