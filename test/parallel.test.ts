/**
 * Data-parallel training on worker threads: same result as one worker (up to
 * float summation order), exact resume, flat tensor counts in every worker.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { initBackend } from '../src/cpc/backend.js';
import { trainCpc } from '../src/cpc/trainer.js';
import { ParallelStepper } from '../src/cpc/parallel/pool.js';
import { SequenceBatcher, type SequenceBatch } from '../src/cpc/batches.js';
import { loadDataset } from '../src/cpc/load-dataset.js';
import { proceduralTexture } from '../src/cpc/texture.js';
import type { Checkpoint } from '../src/cpc/checkpoint.js';
import type { CpcNetwork } from '../src/cpc/model.js';
import { tinyConfig } from './helpers.js';
import { Worker } from 'node:worker_threads';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createCollectiveBuffers } from '../src/cpc/parallel/collective.js';

beforeAll(async () => {
  await initBackend('wasm');
});

function weights(network: CpcNetwork): Map<string, Float32Array> {
  return new Map([...network.allVariables()].map(([n, v]) => [n, v.dataSync() as Float32Array]));
}

/** a 2-worker stepper on a tiny config, one step taken, with its batch source; disposed afterwards */
async function withTwoWorkers(f: (stepper: ParallelStepper, next: (split: 'train' | 'valid') => SequenceBatch) => Promise<void>) {
  const config = tinyConfig({ workers: 2 });
  const stepper = await ParallelStepper.start(config, 1, 2, 'wasm');
  try {
    const batcher = new SequenceBatcher(loadDataset(), proceduralTexture(1), 4);
    const next = (split: 'train' | 'valid') => batcher.next(split, config);
    await stepper.train(next('train'));
    await f(stepper, next);
  } finally {
    await stepper.dispose();
  }
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
    await withTwoWorkers(async (stepper, next) => {
      const before = await stepper.tensorCounts();
      for (let i = 0; i < 3; i++) {
        await stepper.train(next('train'));
        await stepper.evaluate(next('valid'));
      }
      expect(await stepper.tensorCounts()).toEqual(before);
    });
  });

  it('refuses a batch that cannot be split evenly over the workers, up front', async () => {
    await expect(ParallelStepper.start(tinyConfig({ batchSize: 15, workers: 1 }), 1, 2, 'wasm')).rejects.toThrow(/divisible/);
  });

  it('a peer that throws stops every other peer at its barrier within a second (not the 300 s timeout)', async () => {
    const size = 3;
    const buffers = createCollectiveBuffers(size, 2);
    const entry = pathToFileURL(join(import.meta.dirname, 'fixtures', 'collective-peer.ts')).href;
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
    const peers = Array.from(
      { length: size },
      (_, rank) => new Worker(boot, { eval: true, workerData: { rank, size, buffers, failRank: 1, failAtRound: 5 } }),
    );
    const ends = await Promise.all(
      peers.map(
        (w) => new Promise<{ rank: number; rounds: number; error: string | null; at: number }>((resolve) => w.once('message', resolve)),
      ),
    );
    await Promise.all(peers.map((w) => w.terminate()));
    const thrower = ends.find((e) => e.rank === 1)!;
    expect(thrower).toMatchObject({ rounds: 5, error: 'Error: rank 1 failed' });
    for (const other of ends.filter((e) => e.rank !== 1)) {
      expect(other.error, `rank ${other.rank}`).toMatch(/^CollectiveAborted/);
      expect(other.rounds).toBeLessThanOrEqual(6);
      expect(other.at - thrower.at, `rank ${other.rank} stopped after the thrower`).toBeLessThan(5000);
    }
  });

  it('a training thread that dies mid-run fails the step on every worker, promptly, saying which', async () => {
    await withTwoWorkers(async (stepper, next) => {
      // (the internals a thread crash reaches: the second worker's thread goes away)
      const handles = (stepper as unknown as { handles: Array<{ worker: Worker }> }).handles;
      const step = stepper.train(next('train'));
      await handles[1].worker.terminate();
      const started = Date.now();
      await expect(step).rejects.toThrow(/training worker exited/);
      expect(Date.now() - started).toBeLessThan(10_000);
      // the run cannot go on: the next step fails at once too
      await expect(stepper.train(next('train'))).rejects.toThrow();
    });
  });
});
