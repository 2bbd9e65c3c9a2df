/**
 * An inference thread (run by Piscina, see pool.ts): decodes the images and
 * runs the encoder and probe head off the API's event loop. It keeps the
 * models it has assembled in a small LRU (tensors disposed on eviction) and
 * reports its live tensor count with every answer.
 */
import { threadId, workerData } from 'node:worker_threads';
import * as tf from '../../cpc/tf.js';
import { initBackend, parseBackendChoice } from '../../cpc/backend.js';
import { predictImages, ImageInputError, NoNeighbourIndex, type ServableModel } from '../../cpc/inference.js';
import { assembleServable } from '../../cpc/servable.js';
import type { InferOutcome, InferTask } from './protocol.js';

const { backend, modelCacheSize } = workerData as { backend: string; modelCacheSize: number };
const ready = initBackend(parseBackendChoice(backend));
const models = new Map<string, Promise<ServableModel>>();

function dispose(entry: Promise<ServableModel>): void {
  entry.then((m) => (m.encoder.dispose(), m.head.dispose())).catch(() => undefined);
}

function modelFor(task: InferTask): Promise<ServableModel> | null {
  let entry = models.get(task.modelKey);
  if (entry) {
    models.delete(task.modelKey);
    models.set(task.modelKey, entry); // most recently used last
    return entry;
  }
  if (!task.files) return null;
  entry = assembleServable(task.files);
  entry.catch(() => models.delete(task.modelKey));
  models.set(task.modelKey, entry);
  while (models.size > modelCacheSize) {
    const [oldest, evicted] = models.entries().next().value as [string, Promise<ServableModel>];
    models.delete(oldest);
    dispose(evicted);
  }
  return entry;
}

export default async function infer(task: InferTask): Promise<InferOutcome> {
  await ready;
  const entry = modelFor(task);
  if (!entry) return { kind: 'need-model' };
  const model = await entry;
  try {
    const predictions = predictImages(model, task.inputs, task.embedding, task.neighbours);
    return { kind: 'ok', predictions, threadId, tensors: tf.memory().numTensors };
  } catch (err) {
    if (err instanceof ImageInputError) return { kind: 'bad-input', message: err.message, threadId, tensors: tf.memory().numTensors };
    if (err instanceof NoNeighbourIndex) return { kind: 'no-index', threadId, tensors: tf.memory().numTensors };
    throw err;
  }
}
