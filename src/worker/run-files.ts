/** Moving run-directory files between a worker's disk and the artifact store. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { ArtifactKind } from '../generated/prisma/client.js';
import type { ProcessorContext } from './context.js';
import { recordArtifact } from '../store/jobs.js';

/** Store each existing file of runDir as an artifact of the job (name = path in the run). */
export async function storeRunFiles(ctx: ProcessorContext, jobId: string, runDir: string, files: Array<[ArtifactKind, string]>): Promise<void> {
  for (const [kind, file] of files) {
    const path = join(runDir, file);
    if (!existsSync(path)) continue;
    const stored = await ctx.store.put(`jobs/${jobId}/${file}`, readFileSync(path));
    await recordArtifact(ctx.db, jobId, kind, file, stored);
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
