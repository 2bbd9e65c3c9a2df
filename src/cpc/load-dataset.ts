/** The data set of a directory, whichever layout it has (dataset.ts), read once per process. */
import { existsSync } from 'node:fs';
import { resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DatasetError, type ImageDataset } from './dataset.js';
import { hasIdxFiles, readIdxDataset } from './idx-dataset.js';
import { readPngFolder } from './png-folder.js';

/** The vendored copy under <package>/data/mnist, or CPC_DATA_DIR. */
export function defaultDataDir(): string {
  if (process.env.CPC_DATA_DIR) return resolve(process.env.CPC_DATA_DIR);
  const here = dirname(fileURLToPath(import.meta.url));
  return resolve(here, '..', '..', 'data', 'mnist');
}

const cache = new Map<string, ImageDataset>();

/** The data set in `dir` (IDX files or PNG folders), read once per process. */
export function loadDataset(dir: string = defaultDataDir()): ImageDataset {
  const key = resolve(dir);
  const hit = cache.get(key);
  if (hit) return hit;
  if (!existsSync(key)) throw new DatasetError(`${key}: data directory does not exist`);
  const dataset = hasIdxFiles(key) ? readIdxDataset(key) : readPngFolder(key).dataset;
  cache.set(key, dataset);
  return dataset;
}
