/**
 * One attempt of a job inside a sandboxed processor: takes the lease, keeps
 * its heartbeat, turns cancel requests, a lost lease and worker shutdown into
 * one AbortSignal, fences every write, and ends in exactly one outcome, which
 * is recorded by exactly one lifecycle transition (store/lifecycle.ts) and
 * then answered to BullMQ:
 *
 *   outcome      transition      BullMQ
 *   succeeded    complete        completed with the result
 *   cancelled    stopCancelled   completed ({cancelled: true}); the job is final
 *   released     requeue         moved back to wait (worker shutting down; no try consumed)
 *   lease-lost   (none)          completed ({leaseLost: true}): the attempt that owns the job carries on
 *   errored      requeue / fail  failed: BullMQ retries while tries are left; on the last, `fail`
 */
import { WaitingError, type SandboxedJob } from 'bullmq';
import { mkdirSync, readdirSync, rmdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import * as lifecycle from '../store/lifecycle.js';
import { fenced, LeaseLost, withRetry, type Lease, type RetryOptions, type Tx } from '../store/leases.js';
import type { Db } from '../store/db.js';
import type { ProcessorContext } from './context.js';
import type { Job as JobRow } from '../generated/prisma/client.js';
import type { JobPayload } from '../queue/queues.js';
import { isDatabaseUnavailable } from '../store/errors.js';
import { isRedisUnavailable } from '../queue/producer.js';
import { JobLogWriter, type LogLevel } from './job-log.js';

export type StopReason = 'cancelled' | 'released' | 'lease-lost';

export interface Attempt {
  row: JobRow;
  lease: Lease;
  /** this attempt's own scratch directory (removed when the attempt ends) */
  workDir: string;
  /** aborted when the attempt must stop; `stopReason` says why */
  signal: AbortSignal;
  stopReason(): StopReason | null;
  /** a line in the job's log (GET /v1/jobs/:id/logs; BullMQ's job log too) */
  log(message: string, level?: LogLevel): void;
  /** a fenced, retried write */
  write<T>(f: (tx: Tx) => Promise<T>): Promise<T>;
  /** fire-and-forget writes kept in order; `flush` awaits them and throws the first that failed */
  later(f: (tx: Tx) => Promise<unknown>): void;
  flush(): Promise<void>;
}

export type AttemptOutcome =
  | { kind: 'succeeded'; result: object }
  | { kind: 'cancelled' }
  | { kind: 'released' }
  | { kind: 'lease-lost' }
  | { kind: 'errored'; error: Error; lastTry: boolean };

/** How an attempt that ran its body ended: the body's result or error, read beside why it was stopped. */
export function outcomeOf(
  settled: { result: object } | { error: unknown },
  stopReason: StopReason | null,
  lastTry: boolean,
): AttemptOutcome {
  if ('result' in settled) return { kind: 'succeeded', result: settled.result };
  if (stopReason === 'cancelled') return { kind: 'cancelled' };
  if (stopReason === 'lease-lost' || settled.error instanceof LeaseLost) return { kind: 'lease-lost' };
  if (stopReason === 'released') return { kind: 'released' };
  const error = settled.error instanceof Error ? settled.error : new Error(String(settled.error));
  return { kind: 'errored', error, lastTry };
}

/**
 * An attempt's error as the job record keeps it (clients read it): a dependency that was away is
 * named, never its address or driver text (that is in the job's log).
 */
export function recordedError(error: Error): string {
  if (isDatabaseUnavailable(error)) return 'the database (PostgreSQL) was unavailable';
  if (isRedisUnavailable(error)) return 'the job queue (Redis) was unavailable';
  // (Prisma's messages quote the worker's source; a system error names its files: both stay in the worker's own log)
  const code = (error as { code?: unknown }).code;
  if (error.name.startsWith('PrismaClient')) return `a database error${typeof code === 'string' ? ` (${code})` : ''}`;
  const syscall = (error as { syscall?: unknown }).syscall;
  if (typeof syscall === 'string' && typeof code === 'string') return `a system error on the worker (${code} in ${syscall})`;
  return error.message;
}

/**
 * Record an outcome by its one transition (retried through Postgres outages); false when the
 * lease was lost meanwhile, so nothing was written.
 */
export async function recordOutcome(db: Db, lease: Lease, outcome: AttemptOutcome, retry: RetryOptions = {}): Promise<boolean> {
  const take = (transition: () => Promise<boolean>) => withRetry(transition, retry);
  switch (outcome.kind) {
    case 'succeeded':
      return take(() => lifecycle.complete(db, lease, outcome.result));
    case 'cancelled':
      return take(() => lifecycle.stopCancelled(db, lease));
    case 'released':
      return take(() => lifecycle.requeue(db, lease, 'released by a stopping worker; continues from its checkpoint'));
    case 'lease-lost':
      return false;
    case 'errored':
      return outcome.lastTry
        ? take(() => lifecycle.fail(db, lease, recordedError(outcome.error)))
        : take(() => lifecycle.requeue(db, lease, `attempt ${lease.attempts} failed, retrying: ${recordedError(outcome.error)}`));
  }
}

/**
 * The attempt's own scratch directory, fresh: it is named by the lease, so nothing another attempt
 * left or still writes is ever read (a retry resumes from the checkpoint in the artifact store,
 * which only lease holders write). Earlier attempts' directories are removed on the way, best
 * effort: a stale twin still running writes in its own, and removing that can fail (ENOTEMPTY)
 * or lose to the twin's writes; the twin removes it itself when it stops.
 */
export function freshWorkDir(root: string, lease: Lease, log: (msg: string) => void): string {
  const jobDir = join(root, lease.jobId);
  const workDir = join(jobDir, lease.leaseId);
  mkdirSync(workDir, { recursive: true });
  for (const entry of readdirSync(jobDir, { withFileTypes: true }).filter((e) => e.name !== lease.leaseId)) {
    try {
      rmSync(join(jobDir, entry.name), { recursive: true, force: true });
    } catch (err) {
      log(`left an earlier attempt's files in place (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  }
  return workDir;
}

/** the attempt's last log line */
function outcomeLine(outcome: AttemptOutcome): [string, LogLevel] {
  switch (outcome.kind) {
    case 'succeeded':
      return ['attempt succeeded', 'info'];
    case 'cancelled':
      return ['attempt stopped: the job was cancelled', 'warn'];
    case 'released':
      return ['attempt stopped: the worker is shutting down; the job goes back to the queue', 'warn'];
    case 'lease-lost':
      return ['attempt stopped: another attempt owns the job now', 'warn'];
    case 'errored':
      return [`attempt failed${outcome.lastTry ? '' : ' (it will be retried)'}: ${recordedError(outcome.error)}`, 'error'];
  }
}

function rmdirQuietly(dir: string): void {
  try {
    rmdirSync(dir);
  } catch {
    // not empty (a twin's files), or gone already
  }
}

export async function runAttempt(
  ctx: ProcessorContext,
  job: SandboxedJob<JobPayload>,
  token: string | undefined,
  bullSignal: AbortSignal | undefined,
  body: (attempt: Attempt) => Promise<object>,
): Promise<unknown> {
  const { db } = ctx;
  const { jobId } = job.data;
  const lease = await withRetry(() => lifecycle.start(db, jobId, { host: ctx.host, backend: ctx.backend.name }));
  // no lease: cancel requested (the job ends here), or final already (a stale duplicate delivery)
  if (!lease) {
    const current = await db.job.findUnique({ where: { id: jobId }, select: { cancelRequested: true } });
    if (!current) throw new Error(`job ${jobId} is not in the database`);
    if (!current.cancelRequested) return { skipped: true };
    await withRetry(() => lifecycle.cancel(db, jobId));
    return { cancelled: true };
  }
  const lines = new JobLogWriter(db, jobId, lease.attempts, { maxLines: ctx.config.LOG_LINES_PER_ATTEMPT });
  const log = (msg: string, level: LogLevel = 'info') => {
    lines.line(level, msg);
    void Promise.resolve(job.log(msg)).catch(() => undefined); // the parent may be gone
  };
  log(`attempt ${lease.attempts} started on ${ctx.host} (backend ${ctx.backend.name})`);
  const controller = new AbortController();
  let reason: StopReason | null = null;
  const stop = (why: StopReason) => {
    if (reason) return;
    reason = why;
    log(`stopping: ${why}`);
    controller.abort(why);
  };
  // BullMQ aborts the processor's signal when its worker shuts down (worker.cancelAllJobs)
  const onBullAbort = () => stop('released');
  bullSignal?.addEventListener('abort', onBullAbort, { once: true });
  if (bullSignal?.aborted) onBullAbort();

  const beat = setInterval(() => {
    lifecycle
      .heartbeat(db, lease)
      .then((state) => {
        if (!state) stop('lease-lost');
        else if (state.cancelRequested) stop('cancelled');
      })
      .catch(() => undefined); // Postgres away: the next beat tries again
  }, ctx.config.HEARTBEAT_MS);

  const retry = { onRetry: (err: Error, n: number) => log(`a database write failed (try ${n}): ${recordedError(err)}`, 'warn') };
  const write = <T>(f: (tx: Tx) => Promise<T>) =>
    withRetry(() => fenced(db, lease, f), retry).catch((err) => {
      if (err instanceof LeaseLost) stop('lease-lost');
      throw err;
    });
  // a write that still fails after its retries fails the attempt at the next flush (before the
  // next checkpoint is stored), so the retry resumes early enough to write those rows again
  let pending: Promise<unknown> = Promise.resolve();
  let writeError: Error | null = null;
  // (from here on, whatever fails is this attempt's outcome: a throw past it would leave the row
  // running under this lease until a later delivery took it over, counting a crash that was none)
  const setUp = async (): Promise<Attempt> => ({
    row: await withRetry(() => db.job.findUniqueOrThrow({ where: { id: jobId } })),
    lease,
    workDir: freshWorkDir(ctx.config.WORK_DIR, lease, log),
    signal: controller.signal,
    stopReason: () => reason,
    log,
    write,
    later: (f) => {
      pending = pending
        .then(() => (writeError ? undefined : write(f)))
        .catch((err) => {
          log(`a write failed: ${recordedError(err as Error)}`, 'error');
          writeError ??= err as Error;
        });
    },
    flush: async () => {
      await pending;
      if (writeError) throw writeError;
    },
  });

  let outcome: AttemptOutcome;
  let workDir: string | undefined;
  try {
    const settled = await setUp()
      .then(async (attempt) => {
        workDir = attempt.workDir;
        const result = await body(attempt);
        await attempt.flush();
        return { result };
      })
      .catch(async (error: unknown) => {
        await pending;
        return { error };
      });
    outcome = outcomeOf(settled, reason, job.attemptsMade + 1 >= (job.opts.attempts ?? 1));
    // (the log is complete before the job can be final: a follower ends its stream at the final status)
    log(...outcomeLine(outcome));
    await lines.close();
    // (an outcome whose transition finds the lease gone was overtaken by another attempt)
    const recorded = await recordOutcome(db, lease, outcome, retry).catch((err: unknown) => {
      // Postgres stayed away through every retry. The row still says running: BullMQ fails this
      // try (with the body's own error when it had one), and the next try or the failed listener
      // settles the job
      log(`could not record the outcome ${outcome.kind}: ${recordedError(err as Error)}`, 'error');
      if (outcome.kind !== 'errored') throw err;
      return true;
    });
    if (!recorded && outcome.kind !== 'lease-lost') outcome = { kind: 'lease-lost' };
  } finally {
    clearInterval(beat);
    await lines.close();
    bullSignal?.removeEventListener('abort', onBullAbort);
    if (workDir) {
      rmSync(workDir, { recursive: true, force: true });
      // (the job's directory too, once no attempt on this machine has files in it)
      rmdirQuietly(dirname(workDir));
    }
  }
  switch (outcome.kind) {
    case 'succeeded':
      return outcome.result;
    case 'cancelled':
      return { cancelled: true };
    case 'lease-lost':
      // another attempt owns the job now (a second delivery): this queue entry ends quietly. Throwing
      // would have BullMQ retry it, take the lease back and, once its attempts ran out, fail the job
      // under the attempt that still runs it
      log('lease lost: another attempt owns the job now; this one stops without writing');
      return { leaseLost: true };
    case 'released':
      await job.moveToWait(token);
      throw new WaitingError();
    case 'errored':
      throw outcome.error;
  }
}
