/**
 * Deleting what a user no longer wants: final jobs (a CPC job with its probes,
 * which are nothing without its encoder), experiments (with their jobs) and
 * model versions. Nothing still in use goes: a job that is not final, a job a
 * registered model version is made from, a version an alias points at; the
 * refusal names what holds it. The rows go in one transaction (metrics, log
 * lines and artifact rows with their job); the caller removes the stored
 * files whose uris come back, once that has committed.
 */
import type { Db } from './db.js';
import type { JobDevice, JobKind, Prisma } from '../generated/prisma/client.js';
import { Conflict, NotFound } from './errors.js';
import { isFinal } from './lifecycle.js';
import type { Scope } from './scope.js';

export interface Deleted {
  /** the jobs deleted (the ones asked for and their probes) */
  jobs: Array<{ id: string; kind: JobKind; device: JobDevice }>;
  /** the stored objects (artifact uris) the deleted rows pointed to */
  uris: string[];
}

/** how many blockers a refusal lists */
const NAMED = 10;

/**
 * Delete these jobs and their probes, all or none (Conflict naming every blocker). Runs inside
 * the caller's transaction; the rows are locked first, so a registration or a probe submitted
 * meanwhile waits and then finds them gone.
 */
async function deleteJobsIn(tx: Prisma.TransactionClient, ids: string[], scope: Scope): Promise<Deleted> {
  if (!ids.length) return { jobs: [], uris: [] };
  // (the jobs asked for first: a probe submitted meanwhile waits for this lock, then finds its CPC job gone)
  await tx.$queryRaw`SELECT id FROM jobs WHERE id = ANY(${ids}) ORDER BY id FOR UPDATE`;
  const probes = await tx.job.findMany({ where: { parentJobId: { in: ids } }, select: { id: true } });
  const all = [...new Set([...ids, ...probes.map((p) => p.id)])];
  await tx.$queryRaw`SELECT id FROM jobs WHERE id = ANY(${all}) ORDER BY id FOR UPDATE`;
  const jobs = await tx.job.findMany({
    where: { id: { in: all } },
    select: { id: true, kind: true, status: true, device: true, ownerId: true },
  });
  // another owner's job (an admin's probe of this CPC job, an admin's job in this experiment) is not
  // this caller's to delete, nor to learn about: refused without naming it
  const foreign = scope.ownerId ? jobs.filter((j) => j.ownerId !== scope.ownerId).length : 0;
  if (foreign)
    throw new Conflict(
      `${foreign} job(s) of another owner depend on this (probes of it, or jobs in the experiment): an admin key can delete them`,
      undefined,
      'job_in_use',
    );
  const live = jobs.filter((j) => !isFinal(j.status));
  if (live.length)
    throw new Conflict(
      `${live
        .slice(0, NAMED)
        .map((j) => `job ${j.id} is ${j.status}`)
        .join('; ')}${live.length > NAMED ? ` (and ${live.length - NAMED} more)` : ''}: cancel it first (only final jobs are deleted)`,
      { jobs: live.map((j) => ({ id: j.id, status: j.status })) },
      'job_not_final',
    );
  const models = await tx.model.findMany({ where: { jobId: { in: all } }, select: { name: true, version: true, jobId: true } });
  if (models.length)
    throw new Conflict(
      `${models
        .slice(0, NAMED)
        .map((m) => `job ${m.jobId} is model ${m.name} version ${m.version}`)
        .join('; ')}: delete ${models.length === 1 ? 'that version' : 'those versions'} first`,
      { models: models.map((m) => ({ name: m.name, version: m.version, jobId: m.jobId })) },
      'job_in_use',
    );
  const artifacts = await tx.artifact.findMany({ where: { jobId: { in: all } }, select: { uri: true } });
  await tx.idempotencyKey.deleteMany({ where: { jobId: { in: all } } });
  // (probes first: their parent link would otherwise be set to null, a wasted write)
  await tx.job.deleteMany({ where: { id: { in: all }, parentJobId: { not: null } } });
  await tx.job.deleteMany({ where: { id: { in: all } } });
  return { jobs: jobs.map(({ id, kind, device }) => ({ id, kind, device })), uris: [...new Set(artifacts.map((a) => a.uri))] };
}

export class DeletionRepository {
  constructor(private readonly db: Db) {}

  /** a final job and its probes (NotFound outside the scope; Conflict when one is not final or is a model) */
  async deleteJob(id: string, scope: Scope): Promise<Deleted> {
    return this.db.$transaction(async (tx) => {
      const job = await tx.job.findFirst({ where: { id, ...scope }, select: { id: true } });
      if (!job) throw new NotFound(`no job ${id}`);
      return deleteJobsIn(tx, [job.id], scope);
    });
  }

  /** an experiment and every job in it (with their probes), all or none */
  async deleteExperiment(id: string, scope: Scope): Promise<Deleted> {
    return this.db.$transaction(async (tx) => {
      const experiment = await tx.experiment.findFirst({ where: { id, ...scope }, select: { id: true } });
      if (!experiment) throw new NotFound(`no experiment ${id}`);
      // (a job submitted into it meanwhile waits for this lock, then finds it gone)
      await tx.$queryRaw`SELECT id FROM experiments WHERE id = ${id}::uuid FOR UPDATE`;
      const jobs = await tx.job.findMany({ where: { experimentId: id }, select: { id: true } });
      const deleted = await deleteJobsIn(
        tx,
        jobs.map((j) => j.id),
        scope,
      );
      await tx.experiment.delete({ where: { id } });
      return deleted;
    });
  }

  /** one version of the owner's model (Conflict while an alias points at it); the job it was made from stays */
  async deleteModelVersion(ownerId: string, name: string, version: number): Promise<void> {
    await this.db.$transaction(async (tx) => {
      // (an alias set meanwhile waits for this lock, then finds the version gone)
      const locked = await tx.$queryRaw<Array<{ id: string }>>`
        SELECT id FROM models WHERE owner_id = ${ownerId}::uuid AND name = ${name} AND version = ${version} FOR UPDATE`;
      if (!locked.length) throw new NotFound(`no model ${name} version ${version}`);
      const model = await tx.model.findUniqueOrThrow({ where: { id: locked[0].id }, include: { aliases: true } });
      if (model.aliases.length)
        throw new Conflict(
          `model ${name} version ${version} is aliased as ${model.aliases.map((a) => a.alias).join(', ')}: move or remove the alias first`,
          { aliases: model.aliases.map((a) => a.alias) },
          'model_version_aliased',
        );
      await tx.model.delete({ where: { id: model.id } });
    });
  }
}
