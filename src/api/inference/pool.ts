/**
 * Inference off the event loop: a small pool of worker threads (Piscina)
 * that decode images and run the models, so that a burst of predictions
 * never delays the API's other requests (health checks included). The API
 * keeps only the model files (bytes) and hands them to a thread the first
 * time that thread needs a model.
 */
import { Piscina } from 'piscina';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { NoNeighbourIndex, type PixelGrid, type Prediction } from '../../cpc/inference.js';
import type { InferOptions, InferOutcome, InferTask, ModelFiles } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

export class BadImageInput extends Error {}
export class InferenceBusy extends Error {}
export class InferenceCancelled extends Error {}

export interface InferencePoolOptions {
  threads: number;
  /** the threads' backend (INFERENCE_BACKEND) */
  backend: string;
  /** models each thread keeps assembled */
  modelCacheSize: number;
  /** tasks that may wait for a thread; more are refused (InferenceBusy) */
  maxQueue: number;
}

export class InferencePool {
  private readonly pool: Piscina;
  private readonly tensorsByThread = new Map<number, number>();

  constructor(options: InferencePoolOptions) {
    this.pool = new Piscina({
      filename: join(here, `thread.${ext}`),
      minThreads: options.threads,
      maxThreads: options.threads,
      maxQueue: options.maxQueue,
      // threads live as long as the pool: each keeps its assembled models
      idleTimeout: Infinity,
      // first come, first served: by default Piscina moves a waiting task to the back of the queue
      // whenever it cannot hand it out, which starved one request for a whole benchmark run
      stricterFIFO: true,
      workerData: { backend: options.backend, modelCacheSize: options.modelCacheSize },
      // from the TypeScript sources (tsx, vitest): the threads load thread.ts through tsx
      ...(ext === 'ts' ? { execArgv: ['--import', 'tsx'] } : {}),
    });
  }

  /** predictions for `inputs` with the model `modelKey`; `files` loads the model's bytes if a thread needs them */
  async predict(
    modelKey: string,
    files: () => Promise<ModelFiles>,
    inputs: Array<Uint8Array | PixelGrid>,
    options: InferOptions,
    signal?: AbortSignal,
  ): Promise<Prediction[]> {
    let outcome = await this.run({ modelKey, inputs, ...options }, signal);
    // (the inputs were copied, not moved, the first time: they are still here if the model must be sent)
    if (outcome.kind === 'need-model') outcome = await this.run({ modelKey, inputs, ...options, files: await files() }, signal);
    if (outcome.kind === 'need-model') throw new Error(`an inference thread could not assemble model ${modelKey}`);
    this.tensorsByThread.set(outcome.threadId, outcome.tensors);
    if (outcome.kind === 'bad-input') throw new BadImageInput(outcome.message);
    if (outcome.kind === 'no-index') throw new NoNeighbourIndex();
    return outcome.predictions;
  }

  /** `signal`: a waiting task leaves the queue, a running one is stopped with its thread (Piscina starts a new one) */
  private async run(task: InferTask, signal?: AbortSignal): Promise<InferOutcome> {
    try {
      return (await this.pool.run(task, { signal })) as InferOutcome;
    } catch (err) {
      if (signal?.aborted) throw new InferenceCancelled('the prediction was cancelled');
      if (/queue is at limit/i.test((err as Error).message))
        throw new InferenceBusy('every inference thread is busy and the queue is full');
      throw err;
    }
  }

  /** tensors alive in the threads, as each last reported */
  tensors(): number {
    // (a thread stopped by a cancelled task is gone with its tensors)
    const live = new Set(this.pool.threads.map((t) => t.threadId));
    for (const id of this.tensorsByThread.keys()) if (!live.has(id)) this.tensorsByThread.delete(id);
    return [...this.tensorsByThread.values()].reduce((a, b) => a + b, 0);
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }
}
