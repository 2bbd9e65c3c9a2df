/**
 * Faults against real processes: workers killed (parent, sandbox child),
 * stopped with SIGTERM, lost without any Redis event, Postgres frozen, Redis
 * away mid-job, a full artifact disk, cancellation during a crash. After each
 * scenario the invariant checker runs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Queue } from 'bullmq';
import { startHarness, startServices, api, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { checkInvariants } from './invariants.js';
import { childrenOf, harnessProcesses, killWorker, liveWorkers as liveWorkersOf } from './processes.js';
import { describeFailure, enqueue, queueName, redisConnection } from '../../src/queue/queues.js';
import { withScratchQueues } from './scratch-queues.js';
import { DEFAULT_OWNER_ID } from '../../src/store/owners.js';
import { reapOnce } from '../../src/worker/reaper.js';
import { queueGaveUp, start } from '../../src/store/lifecycle.js';
import { createJob } from '../../src/store/jobs.js';
import { LocalArtifactStore } from '../../src/artifacts/store.js';

let h: Harness;

const FAST_RECOVERY = {
  JOB_LOCK_MS: '3000',
  HEARTBEAT_MS: '500',
  HEARTBEAT_TIMEOUT_MS: '4000',
  REAPER_INTERVAL_MS: '1000',
  ORPHAN_QUEUED_MS: '3000',
  CRASH_BUDGET: '3',
};

beforeAll(async () => {
  h = await startHarness({ env: FAST_RECOVERY, workers: 1 });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const config = (seed: number, steps = 24) => tinyConfig({ stepsPerEpoch: steps, checkpointEvery: 4, seed });

async function submit(seed: number, steps = 24): Promise<string> {
  const r = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: config(seed, steps) });
  expect(r.status).toBe(202);
  return r.json.id;
}

const job = async (id: string) => (await api(h, 'GET', `/v1/jobs/${id}`)).json;

async function waitForStep(id: string, step: number) {
  return waitFor(`job ${id} to reach step ${step}`, async () => {
    const j = await job(id);
    if (['failed', 'cancelled', 'succeeded'].includes(j.status)) throw new Error(`job ended early: ${j.status} ${j.error}`);
    return j.step >= step && j;
  });
}

async function waitForStatus(id: string, statuses: string[], timeoutMs = 120_000) {
  return waitFor(
    `job ${id} to be ${statuses.join('|')}`,
    async () => {
      const j = await job(id);
      return statuses.includes(j.status) && j;
    },
    timeoutMs,
  );
}

/** the job succeeded on a later attempt that resumed from a checkpoint (not from step 0), and the record is consistent */
async function expectResumedToSuccess(done: { id: string; status: string }) {
  expect(done.status).toBe('succeeded');
  expect((await jobLogs(done.id)).some((l) => /resuming from the checkpoint at step [1-9]/.test(l))).toBe(true);
  await expectInvariants();
}

async function jobLogs(id: string): Promise<string[]> {
  const connection = redisConnection(h.config.REDIS_URL);
  const queue = new Queue(queueName('cpc'), { connection, prefix: h.config.QUEUE_PREFIX });
  try {
    return (await queue.getJobLogs(id)).logs;
  } finally {
    await queue.close();
    connection.disconnect();
  }
}

/** the full-disk test mounts a tiny tmpfs: root with the mount capability (not in every container) */
function canMountTmpfs(): boolean {
  const dir = mkdtempSync(join(tmpdir(), 'cpc-tmpfs-probe-'));
  try {
    if (spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=4k', 'tmpfs', dir]).status !== 0) return false;
    return spawnSync('umount', [dir]).status === 0;
  } finally {
    spawnSync('rmdir', [dir]);
  }
}

function liveWorkers(): ChildProcess[] {
  return liveWorkersOf(h);
}

async function expectInvariants() {
  const report = await checkInvariants(h);
  expect(report.violations).toEqual([]);
  return report;
}

/** pids of this harness's PostgreSQL (postmaster and its backends) */
function postgresPids(): number[] {
  const pidFile = join(h.servicesDir, 'postgres', 'data', 'postmaster.pid');
  const master = Number(readFileSync(pidFile, 'utf8').split('\n')[0]);
  return [master, ...childrenOf(master)];
}

describe('faults', () => {
  it('a lost attempt is one crash when the reaper requeues it and BullMQ then fails it for its crash budget', async () => {
    // BullMQ 6 moves a job that stalled past maxStalledCount back to wait and fails it only when a
    // worker next picks it up; a reaper pass in between requeues the row and counts the crash
    const db = h.app.db;
    // a prefix no worker of the harness consumes, so the job stays waiting
    await withScratchQueues(h, 'reaper-direct', async ({ queues, createJob: scratchJob }) => {
      const { job: row } = await scratchJob({
        ownerId: DEFAULT_OWNER_ID,
        kind: 'cpc',
        config: config(110, 8),
        seed: 110,
        priority: 50,
        totalSteps: 8,
      });
      await enqueue(queues, { id: row.id, kind: 'cpc', device: 'any', priority: 50 }, 1);
      expect(await start(db, row.id, { host: 'host-gone', backend: 'test' })).toMatchObject({ attempts: 1, crashes: 0 });
      // HEARTBEAT_TIMEOUT_MS 0: stale at once for this pass (the harness's own reapers wait 4 s)
      const reapConfig = {
        HEARTBEAT_TIMEOUT_MS: 0,
        ORPHAN_QUEUED_MS: 3_600_000,
        CRASH_BUDGET: 0,
        JOB_ATTEMPTS: 1,
        IDEMPOTENCY_TTL_MS: 3_600_000,
      };
      const report = await reapOnce({ db, queues, config: reapConfig, log: () => undefined });
      expect(report.requeued).toContain(row.id);
      expect(await db.job.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({ status: 'queued', crashes: 1 });
      await queueGaveUp(db, row.id, describeFailure('job stalled more than allowable limit'));
      expect(await db.job.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({
        status: 'failed',
        crashes: 1,
        attempts: 1,
        error: expect.stringMatching(/crash budget exhausted/),
      });

      // while the row still says running, the failure is the first word on the crash and counts it
      const { job: other } = await scratchJob({
        ownerId: DEFAULT_OWNER_ID,
        kind: 'cpc',
        config: config(112, 8),
        seed: 112,
        priority: 50,
        totalSteps: 8,
      });
      await start(db, other.id, { host: 'host-gone', backend: 'test' });
      await queueGaveUp(db, other.id, describeFailure('job stalled more than allowable limit'));
      expect(await db.job.findUniqueOrThrow({ where: { id: other.id } })).toMatchObject({ status: 'failed', crashes: 1 });
    });
  });

  it('survives repeated SIGKILLs of the worker: resumes from the checkpoint, no duplicate metrics, no orphans', async () => {
    const id = await submit(101, 40);
    await waitForStep(id, 8);
    await killWorker(h.worker);
    h.addWorker();
    // the job is found again once its lock expires, and resumes
    await waitFor('a second attempt', async () => (await job(id)).attempts >= 2);
    await waitForStep(id, 26);
    await killWorker(liveWorkers()[0]);
    h.addWorker();
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status, done.error).toBe('succeeded');
    expect(done.crashes).toBe(2);
    expect(done.attempts).toBe(3);
    const logs = await jobLogs(id);
    const resumed = logs
      .map((l) => /resuming from the checkpoint at step (\d+)/.exec(l))
      .filter(Boolean)
      .map((m) => Number(m![1]));
    expect(resumed.length).toBe(2);
    expect(resumed[0]).toBeGreaterThanOrEqual(8);
    expect(resumed[1]).toBeGreaterThan(resumed[0]);
    await expectInvariants();
    // (three worker start-ups, two lock expiries and 40 training steps: 99 s on a quiet CI run, so
    // the default 120 s was no bound for a loaded machine; this only guards against a hang)
  }, 300_000);

  it('a job whose worker vanishes more often than CRASH_BUDGET allows ends failed, saying so', async () => {
    const id = await submit(111, 40);
    await waitForStep(id, 4);
    await killWorker(liveWorkers()[0]);
    // a worker with no crash budget at all finds the stalled job
    const strict = h.addWorker({ CRASH_BUDGET: '0' });
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/crash budget exhausted/);
    // the kill is one crash, whether the reaper or the failure event records it (see the test above)
    expect(done.crashes).toBe(1);
    expect(done.attempts).toBe(1);
    strict.kill('SIGTERM');
    await waitFor('the strict worker to stop', async () => strict.exitCode !== null || strict.signalCode !== null, 20_000);
    h.addWorker();
    await expectInvariants();
  });

  it('a killed sandbox child costs an attempt but Postgres never says failed while retries remain', async () => {
    const id = await submit(102);
    await waitForStep(id, 6);
    const [w] = liveWorkers();
    const children = childrenOf(w.pid!);
    expect(children.length).toBeGreaterThan(0);
    for (const pid of children) process.kill(pid, 'SIGKILL');
    const seen = new Set<string>();
    const done = await waitFor('the job to end', async () => {
      const j = await job(id);
      seen.add(j.status);
      return ['succeeded', 'cancelled'].includes(j.status) && j;
    });
    expect(seen.has('failed')).toBe(false);
    expect(done.attempts).toBe(2);
    await expectResumedToSuccess(done);
  });

  it('SIGTERM: the running job checkpoints, goes back to the queue without using an attempt, and another worker resumes it', async () => {
    const id = await submit(103);
    await waitForStep(id, 6);
    const [w] = liveWorkers();
    const exited = new Promise<number>((resolve) => w.once('exit', () => resolve(Date.now())));
    const signalled = Date.now();
    w.kill('SIGTERM');
    const queued = await waitForStatus(id, ['queued'], 20_000);
    expect(queued.error).toMatch(/released by a stopping worker/);
    expect((await exited) - signalled).toBeLessThan(15_000);
    h.addWorker();
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.crashes).toBe(0);
    await expectResumedToSuccess(done);
  });

  it('dead worker and no Redis record: the reaper re-enqueues the running job and an orphaned queued one', async () => {
    const id = await submit(104);
    await waitForStep(id, 6);
    await killWorker(liveWorkers()[0]);
    // the queue lost the job (as after a Redis restart without AOF): no stall event will ever come
    const connection = redisConnection(h.config.REDIS_URL);
    const queue = new Queue(queueName('cpc'), { connection, prefix: h.config.QUEUE_PREFIX });
    await new Promise((r) => setTimeout(r, Number(FAST_RECOVERY.JOB_LOCK_MS) + 500)); // the dead worker's lock expires
    await (await queue.getJob(id))!.remove();
    expect(await queue.getJob(id)).toBeUndefined();
    // and a job whose enqueue never reached Redis
    const { job: orphan } = await createJob(h.app.db, {
      ownerId: DEFAULT_OWNER_ID,
      kind: 'cpc',
      config: config(105, 8),
      seed: 105,
      priority: 50,
      totalSteps: 8,
    });
    await queue.close();
    connection.disconnect();
    expect((await job(id)).status).toBe('running');
    h.addWorker();
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status, done.error).toBe('succeeded');
    expect(done.crashes).toBe(1);
    const orphanDone = await waitForStatus(orphan.id, ['succeeded', 'failed']);
    expect(orphanDone.status).toBe('succeeded');
    await expectInvariants();
  });

  it('a queued job whose queue entry already completed (a retry that lost its enqueue): the reaper runs it again', async () => {
    const id = await submit(108, 8);
    const first = await waitForStatus(id, ['succeeded', 'failed']);
    expect(first.status).toBe('succeeded');
    // what a retry racing its previous attempt's end used to leave: queued in Postgres, completed in BullMQ
    await h.app.db.job.update({ where: { id }, data: { status: 'queued', finishedAt: null, result: undefined } });
    const connection = redisConnection(h.config.REDIS_URL);
    const queue = new Queue(queueName('cpc'), { connection, prefix: h.config.QUEUE_PREFIX });
    expect(await (await queue.getJob(id))!.getState()).toBe('completed');
    await queue.close();
    connection.disconnect();
    const again = await waitFor('the reaper to run the job again', async () => {
      const j = await job(id);
      return j.status === 'succeeded' && j.attempts > first.attempts && j;
    });
    expect(again.result.test).toEqual(first.result.test);
    await expectInvariants();
  });

  it('cancel during a crash: the job ends cancelled when a worker next sees it', async () => {
    const id = await submit(106);
    await waitForStep(id, 4);
    await killWorker(liveWorkers()[0]);
    const r = await api(h, 'POST', `/v1/jobs/${id}/cancel`);
    expect(r.status).toBe(202);
    expect(r.json).toMatchObject({ status: 'running', cancelRequested: true });
    h.addWorker();
    const done = await waitForStatus(id, ['cancelled', 'succeeded', 'failed']);
    expect(done.status).toBe('cancelled');
    expect((await api(h, 'POST', `/v1/jobs/${id}/cancel`)).status).toBe(409);
    await expectInvariants();
  });

  it('Postgres frozen for 8 s mid-job: /readyz reports it, writes fail fast and are retried, the record ends consistent', async () => {
    const id = await submit(107, 32);
    await waitForStep(id, 4);
    const pids = postgresPids();
    for (const pid of pids) process.kill(pid, 'SIGSTOP');
    try {
      const started = Date.now();
      const ready = await api(h, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.postgres).toMatch(/unavailable/);
      expect(Date.now() - started).toBeLessThan(5000);
      // API routes that need Postgres answer 503 quickly, not 500, not a hang
      const read = await api(h, 'GET', '/v1/jobs?limit=1');
      expect(read.status, read.text).toBe(503);
      expect(read.json.message).toMatch(/database/);
      expect(Date.now() - started).toBeLessThan(8000);
      await new Promise((r) => setTimeout(r, Math.max(0, 8000 - (Date.now() - started))));
    } finally {
      for (const pid of pids) process.kill(pid, 'SIGCONT');
    }
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status, done.error).toBe('succeeded');
    await expectInvariants();
  });

  it('Postgres restarted mid-job: the job ends succeeded with a complete record', async () => {
    const id = await submit(110, 32);
    await waitForStep(id, 6);
    const r = spawnSync('bash', [join(import.meta.dirname, '..', '..', 'scripts', 'services.sh'), 'restart-postgres'], {
      env: { ...process.env, CPC_LOCAL_DIR: h.servicesDir },
      encoding: 'utf8',
    });
    expect(r.status, r.stderr).toBe(0);
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status, done.error).toBe('succeeded');
    expect((await api(h, 'GET', '/readyz')).status).toBe(200);
    await expectInvariants();
  });

  it('Redis away for 6 s mid-job (longer than the job lock): the job commits once', async () => {
    const id = await submit(108, 32);
    await waitForStep(id, 4);
    execFileSync('redis-cli', ['-u', h.config.REDIS_URL, 'shutdown']);
    await new Promise((r) => setTimeout(r, 6000));
    startServices(h.servicesDir); // same port, from the AOF
    const done = await waitForStatus(id, ['succeeded', 'failed']);
    expect(done.status, done.error).toBe('succeeded');
    // a second delivery could only come from an entry still waiting or active (a stalled one moves
    // back to wait): once the job's entry is finished in BullMQ, none can come
    await waitFor('the queue entry to finish', async () => {
      const entry = await h.app.queue.locate({ id, kind: 'cpc', device: 'any' });
      return entry !== null && ['completed', 'failed'].includes(entry.state);
    });
    const after = await job(id);
    expect(after.status).toBe('succeeded');
    expect(after.finishedAt).toBe(done.finishedAt);
    await expectInvariants();
  });

  it.skipIf(!canMountTmpfs())('a full artifact disk fails the job clearly after retries and records nothing half-written', async () => {
    for (const w of liveWorkers()) w.kill('SIGTERM');
    await waitFor('workers to stop', async () => liveWorkers().length === 0, 20_000);
    const full = join(h.servicesDir, 'full-artifacts');
    mkdirSync(full, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', full]);
    let failedJob = 'none';
    try {
      const w = h.addWorker({ ARTIFACT_DIR: full, WORK_DIR: join(h.servicesDir, 'work-full') });
      const id = await submit(109);
      const done = await waitForStatus(id, ['succeeded', 'failed']);
      expect(done.status).toBe('failed');
      expect(done.error).toMatch(/ENOSPC|no space/i);
      expect(done.attempts).toBe(3);
      const leftovers = spawnSync('find', [full, '-name', '*.tmp-*'], { encoding: 'utf8' }).stdout.trim();
      expect(leftovers).toBe('');
      // whatever was recorded before the disk filled verifies; no temp file was recorded
      const store = new LocalArtifactStore(full);
      for (const a of await h.app.db.artifact.findMany({ where: { jobId: id } })) {
        expect(a.name).not.toMatch(/\.tmp-/);
        await store.get(a.uri, a.sha256);
      }
      w.kill('SIGTERM');
      await waitFor('the worker to stop', async () => liveWorkers().length === 0, 20_000);
      failedJob = id;
    } finally {
      spawnSync('umount', ['-l', full]);
      rmSync(full, { recursive: true, force: true });
    }
    h.addWorker();
    // (that job's recorded artifacts went with the tmpfs; everything else must hold)
    const report = await checkInvariants(h);
    expect(report.violations.filter((v) => !v.startsWith(failedJob))).toEqual([]);
  });

  it('leaves no orphan processes once the workers stop', async () => {
    for (const w of liveWorkers()) w.kill('SIGTERM');
    await waitFor('all worker processes and sandbox children to exit', async () => harnessProcesses(h).length === 0, 20_000);
  });
});
