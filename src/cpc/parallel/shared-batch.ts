/** A sequence batch in SharedArrayBuffers: written once by the coordinator, read in place by every worker. */
import type { SequenceBatch } from '../batches.js';

export interface SharedBatchShape {
  batchSize: number;
  terms: number;
  predictTerms: number;
  imageSize: number;
}

export interface SharedBatchBuffers extends SharedBatchShape {
  context: SharedArrayBuffer;
  future: SharedArrayBuffer;
  labels: SharedArrayBuffer;
  /** the class of every image (the InfoNCE mask needs the future ones) */
  digits: SharedArrayBuffer;
}

export function createSharedBatch(shape: SharedBatchShape): SharedBatchBuffers {
  const per = shape.imageSize * shape.imageSize * 3 * Float32Array.BYTES_PER_ELEMENT;
  return {
    ...shape,
    context: new SharedArrayBuffer(shape.batchSize * shape.terms * per),
    future: new SharedArrayBuffer(shape.batchSize * shape.predictTerms * per),
    labels: new SharedArrayBuffer(shape.batchSize * Float32Array.BYTES_PER_ELEMENT),
    digits: new SharedArrayBuffer(shape.batchSize * (shape.terms + shape.predictTerms) * Int32Array.BYTES_PER_ELEMENT),
  };
}

export function writeSharedBatch(target: SharedBatchBuffers, batch: SequenceBatch): void {
  if (
    batch.batchSize !== target.batchSize ||
    batch.imageSize !== target.imageSize ||
    batch.terms !== target.terms ||
    batch.predictTerms !== target.predictTerms
  ) {
    throw new Error('batch shape differs from the shared batch buffers');
  }
  new Float32Array(target.context).set(batch.context);
  new Float32Array(target.future).set(batch.future);
  new Float32Array(target.labels).set(batch.labels);
  new Int32Array(target.digits).set(batch.digits);
}

export function viewSharedBatch(source: SharedBatchBuffers): SequenceBatch {
  return {
    batchSize: source.batchSize,
    terms: source.terms,
    predictTerms: source.predictTerms,
    imageSize: source.imageSize,
    context: new Float32Array(source.context),
    future: new Float32Array(source.future),
    labels: new Float32Array(source.labels),
    digits: new Int32Array(source.digits),
  };
}
