/**
 * Batches of image sequences for CPC: classes from the sequence task, each
 * rendered from a random image of that class in the split.
 */
import { Rng, type RngState } from './rng.js';
import type { ImageDataset, SplitName } from './dataset.js';
import { renderDigit, digitPixels, type ImageStyle } from './images.js';
import { sampleSequences, type SequenceSpec } from './sequences.js';
import type { Texture } from './texture.js';
import { drawWarp, type Augment } from './augment.js';

export interface SequenceBatch {
  batchSize: number;
  terms: number;
  predictTerms: number;
  imageSize: number;
  /** batch x terms x H x W x 3 */
  context: Float32Array;
  /** batch x predictTerms x H x W x 3 */
  future: Float32Array;
  labels: Float32Array;
  digits: Int32Array;
}

export interface BatchSpec extends SequenceSpec, ImageStyle {
  batchSize: number;
  positiveFraction: number;
  /** how each image is augmented (training batches only); none when absent */
  augment?: Augment;
}

export class SequenceBatcher {
  readonly rng: Rng;

  constructor(
    private readonly data: ImageDataset,
    readonly texture: Texture,
    seed: number,
  ) {
    this.rng = new Rng(seed);
  }

  getState(): RngState {
    return this.rng.getState();
  }

  setState(state: RngState): void {
    this.rng.setState(state);
  }

  next(split: SplitName, spec: BatchSpec): SequenceBatch {
    const { batchSize, terms, predictTerms, imageSize } = spec;
    const length = terms + predictTerms;
    const { digits, labels } = sampleSequences(spec, batchSize, spec.positiveFraction, this.rng, this.data.classNames.length);
    const per = imageSize * imageSize * 3;
    const context = new Float32Array(batchSize * terms * per);
    const future = new Float32Array(batchSize * predictTerms * per);
    const source = this.data.splits[split];
    for (let b = 0; b < batchSize; b++) {
      for (let t = 0; t < length; t++) {
        const digit = digits[b * length + t];
        const index = this.rng.pick(source.byLabel[digit]);
        const [out, slot] = t < terms ? [context, b * terms + t] : [future, b * predictTerms + (t - terms)];
        const warp = spec.augment === 'affine' ? drawWarp(this.rng) : undefined;
        renderDigit(digitPixels(source, index), spec, this.texture, this.rng, out, slot * per, warp);
      }
    }
    return { batchSize, terms, predictTerms, imageSize, context, future, labels, digits };
  }
}

/** The class of each future image of a batch: [batch * predictTerms], row-major. */
export function futureClasses(batch: SequenceBatch): Int32Array {
  const { batchSize, terms, predictTerms } = batch;
  const out = new Int32Array(batchSize * predictTerms);
  for (let b = 0; b < batchSize; b++)
    out.set(batch.digits.subarray(b * (terms + predictTerms) + terms, (b + 1) * (terms + predictTerms)), b * predictTerms);
  return out;
}
