/**
 * Job records: the jobs repository (creation with idempotency, reads within an owner's scope,
 * metrics). Status changes are lifecycle.ts's; an attempt's writes are fenced (leases.ts).
 */
import { randomUUID } from 'node:crypto';
import { stableHash } from '../lib/hash.js';
import type { Db } from './db.js';
import type { JobDevice, JobKind, JobStatus, Prisma } from '../generated/prisma/client.js';
import { isForeignKeyViolation, isUniqueViolation, NotFound, Unprocessable } from './errors.js';
import type { Page, Scope } from './scope.js';
import { BUILTIN_DATASET_ID } from './datasets.js';

export function newJobId(): string {
  return `job_${randomUUID().replace(/-/g, '').slice(0, 24)}`;
}

export interface NewJob {
  ownerId: string;
  kind: JobKind;
  config: object;
  seed: number;
  experimentId?: string | null;
  priority: number;
  /** the workers it may run on (default any) */
  device?: JobDevice;
  idempotencyKey?: string;
  parentJobId?: string | null;
  /** the data set it trains or probes on (default: the built-in MNIST) */
  datasetId?: string;
  totalSteps: number;
  /** a CPC job's probe (its resolved config) to submit once the job succeeds */
  probeAfter?: object;
}

export class IdempotencyConflict extends Unprocessable {
  constructor() {
    super('this Idempotency-Key was used with a different request body', 'idempotency_key_reused');
    this.name = 'IdempotencyConflict';
  }
}

export type JobRow = Awaited<ReturnType<Db['job']['create']>>;

/**
 * Create the job, or return the existing one for the owner's same
 * Idempotency-Key and body. A key is the owner's for `keyTtlMs` after its
 * first use; after that it names a new job.
 */
export async function createJob(db: Db, input: NewJob, keyTtlMs = 24 * 3600_000): Promise<{ job: JobRow; created: boolean }> {
  const requestHash = stableHash({
    kind: input.kind,
    config: input.config,
    experimentId: input.experimentId ?? null,
    priority: input.priority,
    parent: input.parentJobId ?? null,
    // (only when asked for: keys stored before device routing keep their hashes)
    ...(input.device && input.device !== 'any' ? { device: input.device } : {}),
    // (likewise: keys stored before data sets keep theirs)
    ...(input.datasetId && input.datasetId !== BUILTIN_DATASET_ID ? { dataset: input.datasetId } : {}),
    ...(input.probeAfter ? { probeAfter: input.probeAfter } : {}),
  });
  const { ownerId, idempotencyKey: key } = input;
  const data = {
    id: newJobId(),
    ownerId,
    kind: input.kind,
    config: input.config,
    configHash: stableHash(input.config),
    seed: input.seed,
    experimentId: input.experimentId ?? null,
    priority: input.priority,
    device: input.device ?? 'any',
    idempotencyKey: key ?? null,
    requestHash,
    parentJobId: input.parentJobId ?? null,
    datasetId: input.datasetId ?? BUILTIN_DATASET_ID,
    totalSteps: input.totalSteps,
    ...(input.probeAfter ? { probeAfter: input.probeAfter } : {}),
  };
  try {
    return await createWithKey(db, data, key, requestHash, keyTtlMs);
  } catch (err) {
    // the experiment, parent job or data set was deleted meanwhile
    if (isForeignKeyViolation(err)) throw new NotFound('the experiment, CPC job or data set this job names was deleted meanwhile');
    throw err;
  }
}

async function createWithKey(
  db: Db,
  data: Prisma.JobUncheckedCreateInput & { id: string },
  key: string | undefined,
  requestHash: string,
  keyTtlMs: number,
): Promise<{ job: JobRow; created: boolean }> {
  const { ownerId } = data;
  if (!key) return { job: await db.job.create({ data }), created: true };
  for (let attempt = 0; ; attempt++) {
    const held = await db.idempotencyKey.findUnique({ where: { ownerId_key: { ownerId, key } } });
    if (held && held.createdAt.getTime() > Date.now() - keyTtlMs) {
      if (held.requestHash !== requestHash) throw new IdempotencyConflict();
      const job = await db.job.findUnique({ where: { id: held.jobId } });
      if (job) return { job, created: false };
    }
    try {
      // the claim and the job commit together (one batch transaction: no round trips back to us in
      // between); an expired claim gives way; a concurrent request that claims the key first wins
      const claim = db.idempotencyKey.create({ data: { ownerId, key, jobId: data.id, requestHash } });
      const create = db.job.create({ data });
      const results = held
        ? await db.$transaction([db.idempotencyKey.deleteMany({ where: { ownerId, key, createdAt: held.createdAt } }), claim, create])
        : await db.$transaction([claim, create]);
      return { job: results.at(-1) as JobRow, created: true };
    } catch (err) {
      if (!isUniqueViolation(err) || attempt >= 3) throw err;
    }
  }
}

/** Forget Idempotency-Keys older than `keyTtlMs` (their jobs stay). */
export async function expireIdempotencyKeys(db: Db, keyTtlMs: number): Promise<number> {
  return (await db.idempotencyKey.deleteMany({ where: { createdAt: { lt: new Date(Date.now() - keyTtlMs) } } })).count;
}

/** where a page of metric history ends: its last row's (step, split, name) */
export interface MetricPosition {
  step: number;
  split: string;
  name: string;
}

export interface MetricRow {
  step: number;
  epoch: number;
  split: string;
  name: string;
  value: number;
}

/** The rows of several named values measured at one (step, epoch, split). */
export function metricRows(step: number, epoch: number, split: string, values: Record<string, number>): MetricRow[] {
  return Object.entries(values).map(([name, value]) => ({ step, epoch, split, name, value }));
}

/** Where a running job is: its step of the total (an attempt's fenced write; not a status change). */
export async function recordProgress(tx: Prisma.TransactionClient, jobId: string, step: number, totalSteps: number): Promise<void> {
  await tx.job.update({ where: { id: jobId }, data: { step, totalSteps, progress: step / totalSteps } });
}

/** Idempotent: a retried attempt that re-reports a step does not duplicate rows. */
export async function recordMetrics(db: Prisma.TransactionClient, jobId: string, rows: MetricRow[]): Promise<void> {
  const finite = rows.filter((r) => Number.isFinite(r.value));
  if (finite.length) await db.metricPoint.createMany({ data: finite.map((r) => ({ jobId, ...r })), skipDuplicates: true });
}

export interface JobFilter {
  status?: JobStatus;
  kind?: JobKind;
  experimentId?: string;
}

/** The queries of the API over jobs and their metrics, each within the caller's scope. */
export class JobsRepository {
  constructor(private readonly db: Db) {}

  create(input: NewJob, keyTtlMs: number) {
    return createJob(this.db, input, keyTtlMs);
  }

  /** the job, if the scope may see it; NotFound otherwise */
  async get(id: string, scope: Scope): Promise<JobRow> {
    // (an id that is not there would match any row)
    if (typeof id !== 'string' || !id) throw new NotFound(`no job ${String(id)}`);
    const job = await this.db.job.findFirst({ where: { id, ...scope } });
    if (!job) throw new NotFound(`no job ${id}`);
    return job;
  }

  /** the job as it is now (after a transition), whoever owns it */
  async reload(id: string): Promise<JobRow> {
    const job = await this.db.job.findUnique({ where: { id } });
    if (!job) throw new NotFound(`no job ${id}`);
    return job;
  }

  async getWithArtifacts(id: string, scope: Scope) {
    const job = await this.db.job.findFirst({ where: { id, ...scope }, include: { artifacts: { orderBy: { createdAt: 'asc' } } } });
    if (!job) throw new NotFound(`no job ${id}`);
    return job;
  }

  async list(filter: JobFilter, page: Page, scope: Scope) {
    const where = { ...scope, ...filter };
    const [items, total] = await Promise.all([
      this.db.job.findMany({ where, orderBy: { createdAt: 'desc' }, take: page.limit, skip: page.offset }),
      this.db.job.count({ where }),
    ]);
    return { items, total };
  }

  /** the latest value of every (split, name) series */
  latestMetrics(jobId: string) {
    return this.db.metricPoint.findMany({
      where: { jobId },
      orderBy: [{ split: 'asc' }, { name: 'asc' }, { step: 'desc' }],
      distinct: ['split', 'name'],
    });
  }

  /**
   * A page of the job's metric history in (step, split, name) order, from after `after` (the
   * last row of the page before); `more` says whether rows follow this page.
   */
  async metrics(jobId: string, scope: Scope, filter: { name?: string; split?: string; limit: number; after?: MetricPosition }) {
    await this.get(jobId, scope);
    const a = filter.after;
    const rows = await this.db.metricPoint.findMany({
      where: {
        jobId,
        ...(filter.name ? { name: filter.name } : {}),
        ...(filter.split ? { split: filter.split } : {}),
        ...(a
          ? {
              OR: [
                { step: { gt: a.step } },
                { step: a.step, split: { gt: a.split } },
                { step: a.step, split: a.split, name: { gt: a.name } },
              ],
            }
          : {}),
      },
      orderBy: [{ step: 'asc' }, { split: 'asc' }, { name: 'asc' }],
      take: filter.limit + 1,
    });
    return { items: rows.slice(0, filter.limit), more: rows.length > filter.limit };
  }

  /** metric rows recorded after the row `afterId` (in the order they were written), for event streams */
  /** the id of the job's newest metric row (0 when it has none) */
  async newestMetricId(jobId: string): Promise<bigint> {
    const { _max } = await this.db.metricPoint.aggregate({ where: { jobId }, _max: { id: true } });
    return _max.id ?? 0n;
  }

  /** the id of the job's newest log line (0 when it has none) */
  async newestLogLineId(jobId: string): Promise<bigint> {
    const { _max } = await this.db.jobLogLine.aggregate({ where: { jobId }, _max: { id: true } });
    return _max.id ?? 0n;
  }

  metricsAfter(jobId: string, afterId: bigint, take: number) {
    return this.db.metricPoint.findMany({ where: { jobId, id: { gt: afterId } }, orderBy: { id: 'asc' }, take });
  }

  /** the rows a curves plot draws (train and validation series), in step order, at most `take` */
  curveRows(jobId: string, take: number) {
    return this.db.metricPoint.findMany({
      where: { jobId, split: { in: ['train', 'valid'] }, name: { in: ['loss', 'accuracy', 'chance', 'learning_rate'] } },
      select: { step: true, split: true, name: true, value: true },
      orderBy: { step: 'asc' },
      take,
    });
  }

  /** the job's log lines after the line `afterId` (0: from the first), oldest first */
  logLinesAfter(jobId: string, afterId: bigint, take: number) {
    return this.db.jobLogLine.findMany({ where: { jobId, id: { gt: afterId } }, orderBy: { id: 'asc' }, take });
  }

  /** how many jobs there are of each kind and status */
  countsByKindAndStatus() {
    return this.db.job.groupBy({ by: ['kind', 'status'], _count: { _all: true } });
  }
}
