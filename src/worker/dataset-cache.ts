/**
 * A job's data set as a local directory the engine reads: the vendored copy for the built-in
 * MNIST; an uploaded one fetched from the artifact store once per machine into
 * DATASET_DIR/cache/<checksum> (each file verified against its sha256 on the way, the directory
 * renamed into place only when whole, so processes that fetch at once never read half of one).
 * Stored data sets never change, so a directory named by its checksum stays right.
 */
import { existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { DatasetsRepository, filesOf } from '../store/datasets.js';
import { defaultDataDir } from '../cpc/load-dataset.js';
import { PREVIEW_FILE } from '../datasets/ingest.js';
import type { ProcessorContext } from './context.js';

export async function datasetDir(ctx: ProcessorContext, datasetId: string): Promise<string> {
  const row = await new DatasetsRepository(ctx.db).get(datasetId, {});
  if (row.ownerId === null) return defaultDataDir();
  const dir = join(ctx.config.DATASET_DIR, 'cache', row.checksum);
  if (existsSync(dir)) return dir;
  const partial = `${dir}.part-${randomBytes(6).toString('hex')}`;
  mkdirSync(partial, { recursive: true });
  try {
    for (const f of filesOf(row)) {
      if (f.name === PREVIEW_FILE) continue;
      writeFileSync(join(partial, f.name), await ctx.store.get(f.uri, f.sha256));
    }
    try {
      renameSync(partial, dir);
    } catch (err) {
      // another process put it in place first: theirs is the same content
      if (!existsSync(dir)) throw err;
    }
  } finally {
    rmSync(partial, { recursive: true, force: true });
  }
  return dir;
}
