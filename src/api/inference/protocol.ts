/** Messages between the API process and its inference threads (thread.ts). */
import type { ImageInput, Prediction } from '../../cpc/inference.js';
import type { ServableFiles } from '../../cpc/servable.js';

/** everything a thread needs to assemble a servable model (the engine's one loader takes them) */
export type ModelFiles = ServableFiles;

export interface InferTask {
  /** a registered model version (its row id): a thread keeps the models it has assembled by this key */
  modelKey: string;
  inputs: ImageInput[];
  embedding: boolean;
  /** how many of the most similar training images to add to each prediction (0: none) */
  neighbours: number;
  /** sent only when the thread said it lacks the model */
  files?: ModelFiles;
}

/** what a prediction adds besides the classes: the embedding, the nearest training images */
export type InferOptions = Pick<InferTask, 'embedding' | 'neighbours'>;

export type InferOutcome =
  | { kind: 'ok'; predictions: Prediction[]; threadId: number; tensors: number }
  | { kind: 'bad-input'; message: string; threadId: number; tensors: number }
  | { kind: 'no-index'; threadId: number; tensors: number }
  | { kind: 'need-model' };
