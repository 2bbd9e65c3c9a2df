/** Moving run-directory files between a worker's disk and the artifact store. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArtifactKind } from '../generated/prisma/client.js';
import type { ProcessorContext } from './context.js';
import type { Attempt } from './attempt.js';
import { ArtifactsRepository, recordArtifact, type StoredObject } from '../store/artifacts.js';
import { sha256Hex } from '../lib/hash.js';

/**
 * Store the existing files of runDir as artifacts of the job (name = path in
 * the run). Objects are content-addressed, so a stale attempt can never
 * overwrite bytes a recorded artifact points to. All objects are written
 * first, then all rows in one transaction under the attempt's lease (a
 * checkpoint's two files are recorded together or not at all); objects the
 * rows no longer point to are deleted afterwards.
 */
export async function storeRunFiles(
  ctx: ProcessorContext,
  attempt: Attempt,
  runDir: string,
  files: Array<[ArtifactKind, string]>,
): Promise<void> {
  const jobId = attempt.lease.jobId;
  const stored: Array<[ArtifactKind, string, StoredObject]> = [];
  for (const [kind, file] of files) {
    const path = join(runDir, file);
    if (!existsSync(path)) continue;
    const bytes = readFileSync(path);
    stored.push([kind, file, await ctx.store.put(`jobs/${jobId}/${sha256Hex(bytes).slice(0, 16)}/${file}`, bytes)]);
  }
  const replaced = await attempt.write(async (tx) => {
    const uris: string[] = [];
    for (const [kind, file, object] of stored) {
      const previous = await recordArtifact(tx, jobId, kind, file, object);
      if (previous) uris.push(previous);
    }
    return uris;
  });
  for (const uri of replaced) await ctx.store.delete(uri).catch(() => undefined); // garbage only; never read again
}

/** Fetch (checksum-verified) artifacts of a job into a run directory. */
export async function fetchRunFiles(ctx: ProcessorContext, jobId: string, runDir: string, names: string[]): Promise<void> {
  const artifacts = new ArtifactsRepository(ctx.db);
  for (const name of names) {
    const a = await artifacts.byName(jobId, name);
    const path = join(runDir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await ctx.store.get(a.uri, a.sha256));
  }
}
