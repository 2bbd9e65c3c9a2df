/** `cpc data sample`: a PNG grid of sequences (rows), framed green for positive, red for negative. */
import { resolve } from 'node:path';
import { loadDataset, defaultDataDir } from '../cpc/load-dataset.js';
import { proceduralTexture } from '../cpc/texture.js';
import { SequenceBatcher } from '../cpc/batches.js';
import { resolveConfig } from '../cpc/config.js';
import { encodePng } from '../cpc/png.js';
import type { ColorMode } from '../cpc/images.js';
import type { SequenceTask } from '../cpc/sequences.js';

export interface SampleFlags {
  seed: number;
  rows: number;
  color: ColorMode;
  task: SequenceTask;
  imageSize: number;
  data?: string;
}

const BORDER = 3;

export function sampleGrid(f: SampleFlags): { png: Buffer; labels: number[]; digits: number[][] } {
  const config = resolveConfig({
    batchSize: Math.max(2, f.rows),
    color: f.color,
    task: f.task,
    imageSize: f.imageSize,
    model: f.imageSize === 28 ? { convLayers: 3 } : undefined,
  });
  const data = loadDataset(f.data ? resolve(f.data) : defaultDataDir());
  const batch = new SequenceBatcher(data, proceduralTexture(config.textureSeed), f.seed).next('train', config);
  const s = config.imageSize;
  const length = config.terms + config.predictTerms;
  const cell = s + 2 * BORDER;
  const width = length * cell;
  const height = f.rows * cell;
  const rgb = new Uint8Array(width * height * 3);
  const per = s * s * 3;
  for (let row = 0; row < f.rows; row++) {
    const frame = batch.labels[row] > 0.5 ? [40, 180, 60] : [200, 40, 40];
    for (let t = 0; t < length; t++) {
      const src = t < config.terms ? batch.context : batch.future;
      const slot = t < config.terms ? row * config.terms + t : row * config.predictTerms + (t - config.terms);
      for (let y = 0; y < cell; y++) {
        for (let x = 0; x < cell; x++) {
          const o = ((row * cell + y) * width + t * cell + x) * 3;
          const inside = y >= BORDER && y < BORDER + s && x >= BORDER && x < BORDER + s;
          // future terms get a thicker frame so context and future are told apart
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
  const digits = Array.from({ length: f.rows }, (_, r) => Array.from(batch.digits.subarray(r * length, (r + 1) * length)));
  return { png: encodePng(width, height, rgb), labels: Array.from(batch.labels.subarray(0, f.rows)), digits };
}
