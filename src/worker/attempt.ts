/**
 * One attempt of a job inside a sandboxed processor: takes the lease, keeps
 * its heartbeat, turns cancel requests, a lost lease and worker shutdown into
 * one AbortSignal, fences every write, and records how the attempt ended.
 *
 *   cancelled by the user  -> final status `cancelled`
 *   worker shutting down   -> checkpoint kept, job back to `queued` and to
 *                             BullMQ's wait list (no attempt consumed)
 *   lease lost             -> nothing written; the new owner carries on
 *   error, retries left    -> `queued` with the error; BullMQ retries
 *   error, last attempt    -> `failed`
 */
import { WaitingError, type SandboxedJob } from 'bullmq';
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { finish } from '../store/jobs.js';
import { acquireLease, fenced, heartbeat, LeaseLost, releaseLease, withRetry, type Lease, type Tx } from '../store/leases.js';
import type { ProcessorContext } from './context.js';
import type { Job as JobRow } from '../generated/prisma/client.js';

export type StopReason = 'cancelled' | 'released' | 'lease-lost';

export interface Attempt {
  row: JobRow;
  lease: Lease;
  /** this attempt's own scratch directory (removed when the attempt ends) */
  workDir: string;
  /** aborted when the attempt must stop; `stopReason` says why */
  signal: AbortSignal;
  stopReason(): StopReason | null;
  /** a line in the job's BullMQ log */
  log(message: string): void;
  /** a fenced, retried write */
  write<T>(f: (tx: Tx) => Promise<T>): Promise<T>;
  /** fire-and-forget writes kept in order; `flush` awaits them and throws the first that failed */
  later(f: (tx: Tx) => Promise<unknown>): void;
  flush(): Promise<void>;
}

export async function runAttempt(
  ctx: ProcessorContext,
  job: SandboxedJob<{ jobId: string }>,
  token: string | undefined,
  bullSignal: AbortSignal | undefined,
  body: (attempt: Attempt) => Promise<object>,
): Promise<unknown> {
  const { db } = ctx;
  const { jobId } = job.data;
  const lease = await withRetry(() => acquireLease(db, jobId, ctx.host, ctx.backend.name));
  // no lease: cancel requested (the job ends here), or final already (a stale duplicate delivery)
  if (!lease) {
    const current = await db.job.findUnique({ where: { id: jobId }, select: { cancelRequested: true } });
    if (!current) throw new Error(`job ${jobId} is not in the database`);
    if (!current.cancelRequested) return { skipped: true };
    await finish(db, jobId, 'cancelled');
    return { cancelled: true };
  }
  const row = await db.job.findUniqueOrThrow({ where: { id: jobId } });
  const log = (msg: string) => void Promise.resolve(job.log(msg)).catch(() => undefined); // the parent may be gone
  // scratch space of this attempt only: earlier attempts' directories (crashed, or a stale
  // twin still running) are removed, so nothing they left or still write is ever read;
  // a retry resumes from the checkpoint in the artifact store, which only lease holders write
  const jobDir = join(ctx.config.WORK_DIR, jobId);
  rmSync(jobDir, { recursive: true, force: true });
  const workDir = join(jobDir, lease.leaseId);
  mkdirSync(workDir, { recursive: true });
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
    heartbeat(db, lease)
      .then((state) => {
        if (!state) stop('lease-lost');
        else if (state.cancelRequested) stop('cancelled');
      })
      .catch(() => undefined); // Postgres away: the next beat tries again
  }, ctx.config.HEARTBEAT_MS);

  const retry = { onRetry: (err: Error, n: number) => log(`postgres write failed (try ${n}): ${err.message}`) };
  const write = <T>(f: (tx: Tx) => Promise<T>) =>
    withRetry(() => fenced(db, lease, f), retry).catch((err) => {
      if (err instanceof LeaseLost) stop('lease-lost');
      throw err;
    });
  // a write that still fails after its retries fails the attempt at the next flush (before the
  // next checkpoint is stored), so the retry resumes early enough to write those rows again
  let pending: Promise<unknown> = Promise.resolve();
  let writeError: Error | null = null;
  const attempt: Attempt = {
    row,
    lease,
    workDir,
    signal: controller.signal,
    stopReason: () => reason,
    log,
    write,
    later: (f) => {
      pending = pending
        .then(() => (writeError ? undefined : write(f)))
        .catch((err) => {
          log(`write failed: ${(err as Error).message}`);
          writeError ??= err as Error;
        });
    },
    flush: async () => {
      await pending;
      if (writeError) throw writeError;
    },
  };

  try {
    const result = await body(attempt);
    await attempt.flush();
    await withRetry(() => releaseLease(db, lease, 'succeeded', { result }), retry);
    return result;
  } catch (err) {
    await pending;
    const why = reason as StopReason | null;
    if (why === 'cancelled') {
      await withRetry(() => releaseLease(db, lease, 'cancelled'), retry);
      return { cancelled: true };
    }
    // another attempt owns the job now (a second delivery): this queue entry ends quietly. Throwing
    // would have BullMQ retry it, take the lease back and, once its attempts ran out, fail the job
    // under the attempt that still runs it
    if (why === 'lease-lost' || err instanceof LeaseLost) {
      log('lease lost: another attempt owns the job now; this one stops without writing');
      return { leaseLost: true };
    }
    if (why === 'released') {
      await withRetry(
        () => releaseLease(db, lease, 'queued', { error: 'released by a stopping worker; continues from its checkpoint' }),
        retry,
      );
      await job.moveToWait(token);
      throw new WaitingError();
    }
    const final = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
    const message = (err as Error).message ?? String(err);
    await withRetry(
      () =>
        releaseLease(db, lease, final ? 'failed' : 'queued', {
          error: final ? message : `attempt ${lease.attempts} failed, retrying: ${message}`,
        }),
      retry,
    ).catch(() => undefined);
    throw err;
  } finally {
    clearInterval(beat);
    bullSignal?.removeEventListener('abort', onBullAbort);
    rmSync(workDir, { recursive: true, force: true });
  }
}
