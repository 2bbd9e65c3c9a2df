/** `cpc data sample`: a PNG grid of sequences (rows), framed green for positive, red for negative. */
import { resolve } from 'node:path';
import { loadDataset, defaultDataDir } from '../cpc/load-dataset.js';
import { resolveConfig } from '../cpc/config.js';
import { sequenceGrid, type SequenceGrid } from '../cpc/sample-grid.js';
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

export function sampleGrid(f: SampleFlags): SequenceGrid {
  const config = resolveConfig({
    batchSize: Math.max(2, f.rows),
    color: f.color,
    task: f.task,
    imageSize: f.imageSize,
    model: f.imageSize === 28 ? { convLayers: 3 } : undefined,
  });
  return sequenceGrid(loadDataset(f.data ? resolve(f.data) : defaultDataDir()), config, f.rows, f.seed);
}
