/** Artifact rows: where a job's files are stored (the bytes themselves are in src/artifacts). */
import type { ArtifactKind, Prisma } from '../generated/prisma/client.js';
import type { Db } from './db.js';
import { NotFound } from './errors.js';
import type { Scope } from './scope.js';

/** a CPC job's grid of training sequences (its worker draws it when the job starts) */
export const SAMPLES_ARTIFACT = 'plots/samples.png';
/** a final job's curves, drawn by the API at the first request and kept */
export const CURVES_ARTIFACT = 'plots/curves.svg';
export const CURVES_PNG_ARTIFACT = 'plots/curves.png';

/** an object in the artifact store */
export interface StoredObject {
  uri: string;
  bytes: number;
  sha256: string;
}

/** Record (or repoint) an artifact; returns the uri it replaced, if any, so the caller can delete that object. */
export async function recordArtifact(
  db: Prisma.TransactionClient,
  jobId: string,
  kind: ArtifactKind,
  name: string,
  stored: StoredObject,
): Promise<string | null> {
  const previous = await db.artifact.findUnique({ where: { jobId_kind_name: { jobId, kind, name } }, select: { uri: true } });
  await db.artifact.upsert({
    where: { jobId_kind_name: { jobId, kind, name } },
    create: { jobId, kind, name, uri: stored.uri, bytes: BigInt(stored.bytes), sha256: stored.sha256 },
    update: { uri: stored.uri, bytes: BigInt(stored.bytes), sha256: stored.sha256 },
  });
  return previous && previous.uri !== stored.uri ? previous.uri : null;
}

/** The artifact rows the API reads: a job's files, within the caller's scope. */
export class ArtifactsRepository {
  constructor(private readonly db: Db) {}

  async get(id: string, scope: Scope) {
    const artifact = await this.db.artifact.findFirst({ where: { id, job: scope } });
    if (!artifact) throw new NotFound(`no artifact ${id}`);
    return artifact;
  }

  /** the row as it is now (a running job may have repointed it), or null */
  reload(id: string) {
    return this.db.artifact.findUnique({ where: { id } });
  }

  async exists(jobId: string, name: string): Promise<boolean> {
    return (await this.db.artifact.count({ where: { jobId, name } })) > 0;
  }

  /** a job's artifact by its name in the run directory; NotFound when the job has none */
  async byName(jobId: string, name: string) {
    const artifact = await this.db.artifact.findFirst({ where: { jobId, name } });
    if (!artifact) throw new NotFound(`job ${jobId} has no artifact ${name}`);
    return artifact;
  }
}
