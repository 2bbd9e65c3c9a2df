/**
 * ParallelStepper: data-parallel training on worker threads (one
 * TensorFlow.js wasm/cpu backend each), for the backends that use one core
 * per process. Each step: the coordinator writes the batch into shared
 * memory, every worker trains on its shard with synchronised BN statistics,
 * gathered codes and summed encoder gradients, so the replicas stay identical.
 */
import { Worker } from 'node:worker_threads';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import type { CpcConfig } from '../config.js';
import type { BackendChoice } from '../backend.js';
import type { SequenceBatch } from '../batches.js';
import type { StepMetrics } from '../train-step.js';
import type { Checkpoint } from '../checkpoint.js';
import { networkFor, type CheckpointState, type Stepper } from '../stepper.js';
import { restoreCheckpoint } from '../checkpoint.js';
import type { CpcNetwork } from '../model.js';
import { abortCollective, createCollectiveBuffers } from './collective.js';
import { createSharedBatch, writeSharedBatch, type SharedBatchBuffers } from './shared-batch.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './protocol.js';

type Pending = { resolve: (v: unknown) => void; reject: (e: Error) => void };
type Request = WorkerRequest extends infer R ? (R extends { id: number } ? Omit<R, 'id'> : never) : never;

function spawnWorker(init: WorkerInit): Worker {
  const here = fileURLToPath(import.meta.url);
  if (!here.endsWith('.ts')) return new Worker(join(dirname(here), 'worker.js'), { workerData: init });
  // running from TypeScript sources (tsx, vitest): register the tsx loader in the worker first
  const entry = pathToFileURL(join(dirname(here), 'worker.ts')).href;
  // (tsx resolved from here: an eval'd worker resolves bare imports from the current directory,
  // which need not be this project's when the CLI runs elsewhere)
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((m) => { m.register(); return import(${JSON.stringify(entry)}); });`;
  return new Worker(boot, { eval: true, workerData: init });
}

class WorkerHandle {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  readonly ready: Promise<void>;
  private failure: Error | null = null;

  /** `onDeath` runs when the thread errors out or exits: its peers must not wait for it */
  constructor(
    readonly worker: Worker,
    onDeath: () => void,
  ) {
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve: () => resolve(), reject }));
    worker.on('message', (reply: WorkerReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.ok) p.resolve(reply.result);
      else p.reject(new Error(`training worker failed: ${reply.error}`));
    });
    const fail = (err: Error) => {
      onDeath();
      this.failure = err;
      for (const p of this.pending.values()) p.reject(err);
      this.pending.clear();
    };
    worker.on('error', (err) => fail(err));
    worker.on('exit', (code) => fail(new Error(`training worker exited (code ${code})`)));
  }

  request<T>(req: Request): Promise<T> {
    if (this.failure) return Promise.reject(this.failure);
    const id = this.nextId++;
    return new Promise<T>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      this.worker.postMessage({ ...req, id });
    });
  }
}

export class ParallelStepper implements Stepper {
  private readonly handles: WorkerHandle[];
  private readonly batch: SharedBatchBuffers;

  private constructor(
    readonly workers: number,
    private readonly config: CpcConfig,
    handles: WorkerHandle[],
    batch: SharedBatchBuffers,
  ) {
    this.handles = handles;
    this.batch = batch;
  }

  static async start(config: CpcConfig, networkSeed: number, workers: number, backend: BackendChoice): Promise<ParallelStepper> {
    if (config.batchSize % workers !== 0) throw new Error(`batchSize ${config.batchSize} must be divisible by the ${workers} workers`);
    const probe = networkFor(config, 0);
    const encoderParams = probe.encoderParamNames().reduce((n, name) => n + probe.p(name).size, 0);
    probe.dispose();
    const codesPerWorker = (config.batchSize / workers) * (config.terms + config.predictTerms) * config.model.codeSize;
    const collective = createCollectiveBuffers(
      workers,
      Math.max(encoderParams, codesPerWorker, 4 * config.model.hidden, 4 * config.model.filters),
    );
    const batch = createSharedBatch(config);
    const handles = Array.from(
      { length: workers },
      (_, rank) =>
        new WorkerHandle(spawnWorker({ rank, size: workers, backend, config, networkSeed, collective, batch }), () =>
          abortCollective(collective),
        ),
    );
    const stepper = new ParallelStepper(workers, config, handles, batch);
    try {
      await Promise.all(handles.map((h) => h.ready));
    } catch (err) {
      await stepper.dispose();
      throw err;
    }
    return stepper;
  }

  /** the request on every worker; when some fail, the error of the one that failed first in cause (not a peer it stopped) */
  private async all<T>(req: Request): Promise<T[]> {
    const settled = await Promise.allSettled(this.handles.map((h) => h.request<T>(req)));
    const errors = settled.flatMap((r) => (r.status === 'rejected' ? [r.reason as Error] : []));
    if (errors.length) throw errors.find((e) => !/CollectiveAborted/.test(e.message)) ?? errors[0];
    return settled.map((r) => (r as PromiseFulfilledResult<T>).value);
  }

  async train(batch: SequenceBatch): Promise<StepMetrics> {
    writeSharedBatch(this.batch, batch);
    const results = await this.all<StepMetrics>({ type: 'train' });
    return results[0];
  }

  async evaluate(batch: SequenceBatch): Promise<StepMetrics> {
    writeSharedBatch(this.batch, batch);
    return this.handles[0].request<StepMetrics>({ type: 'eval' });
  }

  /** Live tensor count of each worker (for leak checks). */
  tensorCounts(): Promise<number[]> {
    return this.all<number>({ type: 'tensors' });
  }

  async setLearningRate(learningRate: number): Promise<void> {
    await this.all({ type: 'lr', learningRate });
  }

  capture(state: CheckpointState): Promise<Checkpoint> {
    // the replicas are identical: rank 0 speaks for all
    return this.handles[0].request<Checkpoint>({ type: 'capture', state });
  }

  async restore(checkpoint: Checkpoint): Promise<void> {
    await this.all({ type: 'restore', checkpoint });
  }

  async exportNetwork(): Promise<CpcNetwork> {
    const checkpoint = await this.handles[0].request<Checkpoint>({
      type: 'capture',
      state: {
        step: 0,
        epoch: 0,
        config: this.config,
        dataRng: [0, 0, 0, 0],
        schedule: { learningRate: 0, bestValidLoss: null, badEpochs: 0 },
        epochAccumulator: { steps: 0, lossSum: 0, accuracySum: 0 },
      },
    });
    const network = networkFor(this.config, 0);
    await restoreCheckpoint(checkpoint, network);
    return network;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.worker.terminate()));
  }
}
