/**
 * A batch of training sequences as a picture (like the CPC paper's figure):
 * one row per sequence, the context images framed white, the future ones
 * framed green for a positive sequence (the task's order) and red for a
 * negative one.
 */
import { SequenceBatcher } from './batches.js';
import { proceduralTexture } from './texture.js';
import { encodePng } from './png.js';
import type { CpcConfig } from './config.js';
import type { ImageDataset } from './dataset.js';

const BORDER = 3;

export interface SequenceGrid {
  png: Buffer;
  /** 1 for a positive row, 0 for a negative one */
  labels: number[];
  /** each row's class indices, context then future */
  digits: number[][];
}

export function sequenceGrid(data: ImageDataset, config: CpcConfig, rows: number, seed: number): SequenceGrid {
  const batch = new SequenceBatcher(data, proceduralTexture(config.textureSeed), seed).next('train', {
    ...config,
    batchSize: Math.max(2, rows),
  });
  const s = config.imageSize;
  const length = config.terms + config.predictTerms;
  const cell = s + 2 * BORDER;
  const width = length * cell;
  const height = rows * cell;
  const rgb = new Uint8Array(width * height * 3);
  const per = s * s * 3;
  for (let row = 0; row < rows; row++) {
    const frame = batch.labels[row] > 0.5 ? [40, 180, 60] : [200, 40, 40];
    for (let t = 0; t < length; t++) {
      const src = t < config.terms ? batch.context : batch.future;
      const slot = t < config.terms ? row * config.terms + t : row * config.predictTerms + (t - config.terms);
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const o = ((row * cell + y) * width + t * cell + x) * 3;
          const inside = y >= BORDER && y < BORDER + s && x >= BORDER && x < BORDER + s;
          for (let c = 0; c < 3; c++) {
            rgb[o + c] = inside
              ? Math.round((src[slot * per + ((y - BORDER) * s + (x - BORDER)) * 3 + c] + 1) * 127.5)
              : t < config.terms
                ? 255
                : frame[c];
          }
        }
      }
    }
  }
  const digits = Array.from({ length: rows }, (_, r) => Array.from(batch.digits.subarray(r * length, (r + 1) * length)));
  return { png: encodePng(width, height, rgb), labels: Array.from(batch.labels.subarray(0, rows)), digits };
}
