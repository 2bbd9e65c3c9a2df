/** Moving run-directory files between a worker's disk and the artifact store. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArtifactKind } from '../generated/prisma/client.js';
import type { ProcessorContext } from './context.js';
import type { Attempt } from './attempt.js';
import { recordArtifact } from '../store/jobs.js';
import { sha256Hex } from '../artifacts/store.js';

/**
 * Store each existing file of runDir as an artifact of the job (name = path in
 * the run). Objects are content-addressed, so a stale attempt can never
 * overwrite bytes a recorded artifact points to; the row is written under
 * the attempt's lease, and the object it replaced is deleted afterwards.
 */
export async function storeRunFiles(ctx: ProcessorContext, attempt: Attempt, runDir: string, files: Array<[ArtifactKind, string]>): Promise<void> {
  const jobId = attempt.lease.jobId;
  for (const [kind, file] of files) {
    const path = join(runDir, file);
    if (!existsSync(path)) continue;
    const bytes = readFileSync(path);
    const stored = await ctx.store.put(`jobs/${jobId}/${sha256Hex(bytes).slice(0, 16)}/${file}`, bytes);
    const replaced = await attempt.write((tx) => recordArtifact(tx, jobId, kind, file, stored));
    if (replaced) await ctx.store.delete(replaced).catch(() => undefined); // garbage only; never read again
  }
}

/** Fetch (checksum-verified) artifacts of a job into a run directory. */
export async function fetchRunFiles(ctx: ProcessorContext, jobId: string, runDir: string, names: string[]): Promise<void> {
  for (const name of names) {
    const a = await ctx.db.artifact.findFirst({ where: { jobId, name } });
    if (!a) throw new Error(`job ${jobId} has no artifact ${name}`);
    const path = join(runDir, name);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, await ctx.store.get(a.uri, a.sha256));
  }
}
