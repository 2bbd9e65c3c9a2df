/**
 * Data-parallel training on worker threads: same result as one worker (up to
 * float summation order), exact resume, flat tensor counts in every worker.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { initBackend } from '../src/cpc/backend.js';
import { trainCpc } from '../src/cpc/trainer.js';
import { ParallelStepper } from '../src/cpc/parallel/pool.js';
import { SequenceBatcher } from '../src/cpc/batches.js';
import { loadDigits } from '../src/cpc/mnist.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import type { Checkpoint } from '../src/cpc/checkpoint.js';
import type { CpcNetwork } from '../src/cpc/model.js';
import { tinyConfig } from './helpers.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function weights(network: CpcNetwork): Map<string, Float32Array> {
  return new Map([...network.allVariables()].map(([n, v]) => [n, v.dataSync() as Float32Array]));
}

describe('data-parallel training', () => {
  for (const loss of ['binary', 'infonce'] as const) {
    it(`2 workers reach the same weights as 1 (${loss}: synchronised BN, gathered codes, summed gradients)`, async () => {
      const results = [];
      for (const workers of [1, 2]) {
        const r = await trainCpc({ config: tinyConfig({ workers, loss, stepsPerEpoch: 6, epochs: 1 }) });
        expect(r.workers).toBe(workers);
        results.push({ w: weights(r.network), epoch: r.epochs[0] });
        r.network.dispose();
      }
      for (const [name, a] of results[0].w) {
        const b = results[1].w.get(name)!;
        let diff = 0;
        a.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - b[i]))));
        expect(diff, name).toBeLessThan(2e-5);
      }
      expect(results[1].epoch.trainLoss).toBeCloseTo(results[0].epoch.trainLoss, 5);
    });
  }

  it('resumes a 2-worker run from a checkpoint exactly', async () => {
    const config = tinyConfig({ workers: 2, stepsPerEpoch: 4, epochs: 2, checkpointEvery: 3 });
    const full = await trainCpc({ config });
    let saved: Checkpoint | null = null;
    const part = await trainCpc({ config, stopAfterStep: 5, callbacks: { onCheckpoint: (c) => void (saved = c) } });
    part.network.dispose();
    const resumed = await trainCpc({ config, resumeFrom: saved! });
    const a = weights(full.network);
    const b = weights(resumed.network);
    for (const [name, w] of a) expect(Array.from(b.get(name)!), name).toEqual(Array.from(w));
    full.network.dispose();
    resumed.network.dispose();
  });

  it('keeps every worker’s tensor count flat across steps', async () => {
    const config = tinyConfig({ workers: 2 });
    const stepper = await ParallelStepper.start(config, 1, 2, 'wasm');
    try {
      const batcher = new SequenceBatcher(loadDigits(), proceduralTexture(1), 4);
      await stepper.train(batcher.next('train', config));
      const before = await stepper.tensorCounts();
      for (let i = 0; i < 3; i++) {
        await stepper.train(batcher.next('train', config));
        await stepper.evaluate(batcher.next('valid', config));
      }
      expect(await stepper.tensorCounts()).toEqual(before);
    } finally {
      await stepper.dispose();
    }
  });

  it('reports a worker failure as an error instead of hanging', async () => {
    // a batch that cannot be split evenly is refused up front
    await expect(ParallelStepper.start(tinyConfig({ batchSize: 15, workers: 1 }), 1, 2, 'wasm')).rejects.toThrow(/divisible/);
  });
});
