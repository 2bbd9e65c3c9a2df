/** Job records: creation with idempotency, final status, metrics and artifacts (see leases.ts for ownership). */
import { randomUUID } from 'node:crypto';
import { stableHash } from '../lib/hash.js';
import type { Db } from './db.js';
import type { JobDevice, JobKind, JobStatus, Prisma } from '../generated/prisma/client.js';

export const FINAL_STATUSES: JobStatus[] = ['succeeded', 'failed', 'cancelled'];

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
  totalSteps: number;
}

export class IdempotencyConflict extends Error {
  constructor() {
    super('this Idempotency-Key was used with a different request body');
    this.name = 'IdempotencyConflict';
  }
}

type JobRow = Awaited<ReturnType<Db['job']['create']>>;

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
    totalSteps: input.totalSteps,
  };
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
      if ((err as { code?: string }).code !== 'P2002' || attempt >= 3) throw err;
    }
  }
}

/** Forget Idempotency-Keys older than `keyTtlMs` (their jobs stay). */
export async function expireIdempotencyKeys(db: Db, keyTtlMs: number): Promise<number> {
  return (await db.idempotencyKey.deleteMany({ where: { createdAt: { lt: new Date(Date.now() - keyTtlMs) } } })).count;
}

/**
 * Give a job that is not final yet its final status. `crashed` says the attempt that ended it
 * was lost (its worker vanished); that crash is counted here only while the row still says
 * `running`. Whoever moved it off `running` before (the reaper requeueing it, say: BullMQ first
 * moves a stalled job back to wait and fails it only when a worker picks it up) counted it already.
 */
export async function finish(
  db: Db,
  id: string,
  status: JobStatus,
  fields: { error?: string; result?: object; crashed?: boolean } = {},
): Promise<void> {
  const data = {
    status,
    finishedAt: new Date(),
    error: fields.error ?? null,
    ...(fields.result ? { result: fields.result } : {}),
    ...(status === 'succeeded' ? { progress: 1 } : {}),
  };
  if (fields.crashed) {
    const r = await db.job.updateMany({ where: { id, status: 'running' }, data: { ...data, crashes: { increment: 1 } } });
    if (r.count) return;
  }
  await db.job.updateMany({ where: { id, status: { notIn: FINAL_STATUSES } }, data });
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

/** Idempotent: a retried attempt that re-reports a step does not duplicate rows. */
export async function recordMetrics(db: Prisma.TransactionClient, jobId: string, rows: MetricRow[]): Promise<void> {
  const finite = rows.filter((r) => Number.isFinite(r.value));
  if (finite.length) await db.metricPoint.createMany({ data: finite.map((r) => ({ jobId, ...r })), skipDuplicates: true });
}
