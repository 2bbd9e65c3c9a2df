/**
 * Every job transition against a real PostgreSQL: what it applies to, what it refuses, that an
 * attempt's transitions repeat safely, and the races the table in src/store/lifecycle.ts decides.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import * as lifecycle from '../../src/store/lifecycle.js';
import { fenced, LeaseLost } from '../../src/store/leases.js';
import { recordMetrics } from '../../src/store/jobs.js';
import { queuedJob, startDatabase, type TestDatabase } from './database.js';
import type { Db } from '../../src/store/db.js';
import { outcomeOf, recordOutcome, recordedError, type AttemptOutcome } from '../../src/worker/attempt.js';

let t: TestDatabase;
let db: Db;
const worker = (host: string) => ({ host, backend: 'test' });
const row = (id: string) => db.job.findUniqueOrThrow({ where: { id } });

beforeAll(async () => {
  t = await startDatabase();
  db = t.db;
}, 120_000);

afterAll(async () => {
  await t?.stop();
});

async function running(host = 'host-a') {
  const job = await queuedJob(db);
  const lease = (await lifecycle.start(db, job.id, worker(host)))!;
  return { job, lease };
}

describe('job lifecycle', () => {
  it('start: takes a queued job with a fresh lease; starting a running one counts its lost attempt as a crash', async () => {
    const job = await queuedJob(db);
    const first = await lifecycle.start(db, job.id, worker('host-a'));
    expect(first).toMatchObject({ jobId: job.id, attempts: 1, crashes: 0 });
    expect(await row(job.id)).toMatchObject({ status: 'running', leaseId: first!.leaseId, workerHost: 'host-a' });
    const second = await lifecycle.start(db, job.id, worker('host-b'));
    expect(second).toMatchObject({ attempts: 2, crashes: 1 });
    expect(second!.leaseId).not.toBe(first!.leaseId);
  });

  it('start: refused for a final job and for one whose cancel was requested', async () => {
    const { job, lease } = await running();
    expect(await lifecycle.complete(db, lease, { ok: 1 })).toBe(true);
    expect(await lifecycle.start(db, job.id, worker('late'))).toBeNull();
    const other = await queuedJob(db);
    expect(await lifecycle.requestCancel(db, other.id)).toBe(true);
    expect(await lifecycle.start(db, other.id, worker('late'))).toBeNull();
    expect((await row(other.id)).status).toBe('queued');
  });

  it('heartbeat: reports a cancel request, and null once another attempt took the job', async () => {
    const { job, lease } = await running();
    expect(await lifecycle.heartbeat(db, lease)).toEqual({ cancelRequested: false });
    await lifecycle.requestCancel(db, job.id);
    expect(await lifecycle.heartbeat(db, lease)).toEqual({ cancelRequested: true });
    await db.job.update({ where: { id: job.id }, data: { cancelRequested: false } });
    await lifecycle.start(db, job.id, worker('host-b'));
    expect(await lifecycle.heartbeat(db, lease)).toBeNull();
  });

  it('complete, fail, stopCancelled, requeue: each ends the attempt once, repeats answer true, a stale lease answers false', async () => {
    for (const [end, status] of [
      [(l: lifecycle.Lease) => lifecycle.complete(db, l, { accuracy: 0.5 }), 'succeeded'],
      [(l: lifecycle.Lease) => lifecycle.fail(db, l, 'boom'), 'failed'],
      [(l: lifecycle.Lease) => lifecycle.stopCancelled(db, l), 'cancelled'],
      [(l: lifecycle.Lease) => lifecycle.requeue(db, l, 'try again'), 'queued'],
    ] as const) {
      const { job, lease } = await running();
      const stale = { ...lease, leaseId: '00000000-0000-0000-0000-000000000000' };
      expect(await end(stale), `${status} with a lease that never owned the job`).toBe(false);
      expect(await end(lease), status).toBe(true);
      expect(await end(lease), `${status} repeated`).toBe(true);
      const after = await row(job.id);
      expect(after.status).toBe(status);
      expect(after.leaseId).toBe(status === 'queued' ? null : lease.leaseId);
      expect(after.finishedAt === null).toBe(status === 'queued');
      if (status === 'succeeded') expect(after).toMatchObject({ progress: 1, result: { accuracy: 0.5 } });
    }
  });

  it('fences writes: once a second attempt takes the job, the first can neither write nor end it', async () => {
    const { job, lease: first } = await running();
    await fenced(db, first, (tx) => recordMetrics(tx, job.id, [{ step: 1, epoch: 1, split: 'train', name: 'loss', value: 1 }]));
    const second = (await lifecycle.start(db, job.id, worker('host-b')))!;
    await expect(
      fenced(db, first, (tx) => recordMetrics(tx, job.id, [{ step: 2, epoch: 1, split: 'train', name: 'loss', value: 2 }])),
    ).rejects.toBeInstanceOf(LeaseLost);
    expect(await lifecycle.complete(db, first, { stale: true })).toBe(false);
    await fenced(db, second, (tx) => recordMetrics(tx, job.id, [{ step: 2, epoch: 1, split: 'train', name: 'loss', value: 3 }]));
    expect(await lifecycle.stopCancelled(db, second)).toBe(true);
    const points = await db.metricPoint.findMany({ where: { jobId: job.id }, orderBy: { step: 'asc' } });
    expect(points.map((p) => [p.step, p.value])).toEqual([
      [1, 1],
      [2, 3],
    ]);
    expect(await row(job.id)).toMatchObject({ status: 'cancelled', workerHost: 'host-b', result: null });
  });

  it('requestCancel and cancel: only a job that is not final; cancel needs the request', async () => {
    const job = await queuedJob(db);
    expect(await lifecycle.cancel(db, job.id)).toBe(false); // nobody asked
    expect(await lifecycle.requestCancel(db, job.id)).toBe(true);
    expect(await lifecycle.cancel(db, job.id)).toBe(true);
    expect(await row(job.id)).toMatchObject({ status: 'cancelled', cancelRequested: true });
    expect(await lifecycle.requestCancel(db, job.id)).toBe(false);
    expect(await lifecycle.cancel(db, job.id)).toBe(false);
  });

  it('retry: a failed or cancelled job is queued again with the request cleared; only from the status it was read in', async () => {
    const { job, lease } = await running();
    await lifecycle.fail(db, lease, 'boom');
    expect(await lifecycle.retry(db, job.id, 'cancelled')).toBe(false);
    expect(await lifecycle.retry(db, job.id, 'failed')).toBe(true);
    expect(await row(job.id)).toMatchObject({ status: 'queued', error: null, finishedAt: null, cancelRequested: false });
    expect(await lifecycle.retry(db, job.id, 'failed')).toBe(false);
  });

  it('reapRequeue and reapFail: count the lost attempt as a crash, and only while that attempt owns the job', async () => {
    const { job, lease } = await running();
    const seen = await row(job.id);
    expect(await lifecycle.reapRequeue(db, seen, 'worker lost')).toBe(true);
    expect(await row(job.id)).toMatchObject({ status: 'queued', leaseId: null, crashes: 1, error: 'worker lost' });
    expect(await lifecycle.reapRequeue(db, seen, 'again')).toBe(false);
    expect(await lifecycle.heartbeat(db, lease)).toBeNull();

    const next = (await lifecycle.start(db, job.id, worker('host-b')))!;
    expect(await lifecycle.reapFail(db, seen, 'from an old read')).toBe(false); // another attempt owns it now
    const now = await row(job.id);
    expect(await lifecycle.reapFail(db, now, 'lost for good')).toBe(true);
    expect(await row(job.id)).toMatchObject({ status: 'failed', crashes: 2, error: 'lost for good' });
    expect(await lifecycle.complete(db, next, {})).toBe(false);
  });

  it('queueGaveUp: fails a job that is not final; counts a crash only while the row still says running', async () => {
    const { job } = await running();
    expect(await lifecycle.queueGaveUp(db, job.id, { error: 'stalled', crashed: true })).toBe(true);
    expect(await row(job.id)).toMatchObject({ status: 'failed', crashes: 1, error: 'stalled' });
    expect(await lifecycle.queueGaveUp(db, job.id, { error: 'again', crashed: true })).toBe(false);
    const queued = await queuedJob(db);
    expect(await lifecycle.queueGaveUp(db, queued.id, { error: 'stalled', crashed: true })).toBe(true);
    expect(await row(queued.id)).toMatchObject({ status: 'failed', crashes: 0 });
  });

  it('touchQueued: a compare-and-set on the row as read, or on its quiet time', async () => {
    const job = await queuedJob(db);
    expect(await lifecycle.touchQueued(db, job.id, { updatedAt: job.updatedAt })).toBe(true);
    expect(await lifecycle.touchQueued(db, job.id, { updatedAt: job.updatedAt })).toBe(false); // (the first moved it)
    expect(await lifecycle.touchQueued(db, job.id, { quietSince: new Date(Date.now() - 60_000) })).toBe(false);
    expect(await lifecycle.touchQueued(db, job.id, { quietSince: new Date(Date.now() + 1000) })).toBe(true);
  });

  describe('races', () => {
    it('cancel vs complete: whichever commits first decides, the other answers false', async () => {
      const outcomes: string[] = [];
      for (let i = 0; i < 20; i++) {
        const { job, lease } = await running();
        await lifecycle.requestCancel(db, job.id);
        // the API ends a job whose queue entry it removed; the attempt finished meanwhile
        const [completed, cancelled] = await Promise.all([lifecycle.complete(db, lease, { i }), lifecycle.cancel(db, job.id)]);
        expect(completed !== cancelled, `run ${i}: exactly one applies`).toBe(true);
        const after = await row(job.id);
        expect(after.status).toBe(completed ? 'succeeded' : 'cancelled');
        expect(after.result === null).toBe(!completed);
        outcomes.push(after.status);
      }
      expect(outcomes.length).toBe(20);
    });

    it('reap vs heartbeat: a heartbeat after the reaper read the row wins; the reaper changes nothing', async () => {
      const { job, lease } = await running();
      const seen = await row(job.id);
      await new Promise((r) => setTimeout(r, 5)); // (heartbeat_at has millisecond precision)
      expect(await lifecycle.heartbeat(db, lease)).not.toBeNull();
      expect(await lifecycle.reapRequeue(db, seen, 'worker lost')).toBe(false);
      expect(await lifecycle.reapFail(db, seen, 'worker lost')).toBe(false);
      expect(await row(job.id)).toMatchObject({ status: 'running', leaseId: lease.leaseId, crashes: 0 });
      // concurrently: the reaper and the attempt's last words, one wins and the row agrees with it
      for (let i = 0; i < 20; i++) {
        const r = await running();
        const read = await row(r.job.id);
        const [reaped, completed] = await Promise.all([lifecycle.reapRequeue(db, read, 'lost'), lifecycle.complete(db, r.lease, {})]);
        expect(reaped !== completed, `run ${i}: exactly one applies`).toBe(true);
        expect((await row(r.job.id)).status).toBe(completed ? 'succeeded' : 'queued');
      }
    });

    it('retry vs retry: two clients retrying the same failed job queue it once', async () => {
      const { job, lease } = await running();
      await lifecycle.fail(db, lease, 'boom');
      const answers = await Promise.all([lifecycle.retry(db, job.id, 'failed'), lifecycle.retry(db, job.id, 'failed')]);
      expect(answers.filter(Boolean)).toHaveLength(1);
    });
  });

  describe('attempt outcomes (worker/attempt.ts)', () => {
    it('the body and the stop reason give exactly one outcome', () => {
      const boom = new Error('boom');
      expect(outcomeOf({ result: { a: 1 } }, null, false)).toEqual({ kind: 'succeeded', result: { a: 1 } });
      // a body that finished is a success even if a stop came too late to matter
      expect(outcomeOf({ result: { a: 1 } }, 'cancelled', false).kind).toBe('succeeded');
      expect(outcomeOf({ error: boom }, 'cancelled', false)).toEqual({ kind: 'cancelled' });
      expect(outcomeOf({ error: boom }, 'lease-lost', false)).toEqual({ kind: 'lease-lost' });
      expect(outcomeOf({ error: new LeaseLost('j') }, null, true)).toEqual({ kind: 'lease-lost' });
      expect(outcomeOf({ error: boom }, 'released', false)).toEqual({ kind: 'released' });
      expect(outcomeOf({ error: boom }, null, false)).toEqual({ kind: 'errored', error: boom, lastTry: false });
      expect(outcomeOf({ error: 'a string' }, null, true)).toMatchObject({
        kind: 'errored',
        lastTry: true,
        error: { message: 'a string' },
      });
    });

    it('an error is recorded as clients may read it: a dependency that was away is named, not its address', () => {
      expect(recordedError(new Error("Can't reach database server at 127.0.0.1:46103"))).toBe('the database (PostgreSQL) was unavailable');
      expect(recordedError(Object.assign(new Error('connect ECONNREFUSED 10.0.0.5:6379'), { code: 'ECONNREFUSED' }))).toMatch(
        /unavailable$/,
      );
      expect(recordedError(new Error('batchSize 15 must be divisible by workers 2'))).toBe('batchSize 15 must be divisible by workers 2');
      // nor the worker's files or source: a system error says its code, a database error its code
      const enotdir = Object.assign(new Error("ENOTDIR: not a directory, mkdir '/srv/artifacts/jobs/job_1/plots'"), {
        code: 'ENOTDIR',
        syscall: 'mkdir',
      });
      expect(recordedError(enotdir)).toBe('a system error on the worker (ENOTDIR in mkdir)');
      const prisma = Object.assign(new Error('Invalid `db.jobLogLine.createMany()` invocation in\n/srv/src/worker/job-log.ts:5:23'), {
        name: 'PrismaClientKnownRequestError',
        code: 'P2003',
      });
      expect(recordedError(prisma)).toBe('a database error (P2003)');
    });

    it('each outcome is recorded by its one transition', async () => {
      const boom = new Error('boom');
      const cases: Array<[AttemptOutcome, string, RegExp | null]> = [
        [{ kind: 'succeeded', result: { ok: true } }, 'succeeded', null],
        [{ kind: 'cancelled' }, 'cancelled', null],
        [{ kind: 'released' }, 'queued', /released by a stopping worker/],
        [{ kind: 'errored', error: boom, lastTry: false }, 'queued', /attempt 1 failed, retrying: boom/],
        [{ kind: 'errored', error: boom, lastTry: true }, 'failed', /^boom$/],
      ];
      for (const [outcome, status, error] of cases) {
        const { job, lease } = await running();
        expect(await recordOutcome(db, lease, outcome), outcome.kind).toBe(true);
        const after = await row(job.id);
        expect(after.status, outcome.kind).toBe(status);
        if (error) expect(after.error).toMatch(error);
      }
      const { job, lease } = await running();
      expect(await recordOutcome(db, lease, { kind: 'lease-lost' })).toBe(false);
      expect((await row(job.id)).status).toBe('running'); // nothing written
      await lifecycle.start(db, job.id, worker('host-b'));
      expect(await recordOutcome(db, lease, { kind: 'succeeded', result: {} })).toBe(false);
    });
  });
});
