/** Artifact rows: where a job's files are stored (the bytes themselves are in src/artifacts). */
import type { ArtifactKind, Prisma } from '../generated/prisma/client.js';

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
