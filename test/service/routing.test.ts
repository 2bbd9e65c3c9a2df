/**
 * Device routing against real Redis, Postgres and worker processes: `gpu` jobs
 * wait for a GPU worker, `cpu` jobs never run on one, `any` jobs run on either
 * (a GPU worker claims them only for a free slot).
 *
 * No GPU is reachable here. The "GPU worker" is a worker started with
 * WORKER_DEVICE=gpu and GPU_WORKER_WITHOUT_GPU=true on the wasm backend: it
 * serves the GPU queues while training on the CPU. These tests prove the
 * routing, not GPU training.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { ChildProcess } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { startHarness, startWorker, api, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';
import { checkInvariants } from './invariants.js';
import { liveWorkers } from './processes.js';
import { Worker } from 'bullmq';
import { enqueue, jobOptions, locate, parseWorkerName, queueName, redisConnection } from '../../src/queue/queues.js';
import { withScratchQueues } from './scratch-queues.js';
import { start } from '../../src/store/lifecycle.js';
import { reapOnce } from '../../src/worker/reaper.js';
import { DEFAULT_OWNER_ID } from '../../src/store/owners.js';
import { claimOnce, returnStranded } from '../../src/worker/claim.js';

let h: Harness;
const FAKE_GPU = { WORKER_DEVICE: 'gpu', GPU_WORKER_WITHOUT_GPU: 'true' };

beforeAll(async () => {
  // (info: the story of a failed takeover names each worker's part in it)
  h = await startHarness({ workers: 1, env: { CLAIM_INTERVAL_MS: '300', LOG_LEVEL: 'info' } });
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

async function submit(seed: number, device?: 'gpu' | 'cpu' | 'any'): Promise<string> {
  const r = await api(h, 'POST', '/v1/jobs', {
    kind: 'cpc',
    config: tinyConfig({ seed, stepsPerEpoch: seed === 240 ? 400 : 6 }),
    ...(device ? { device } : {}),
  });
  expect(r.status, r.text).toBe(202);
  return r.json.id;
}

const job = async (id: string) => (await api(h, 'GET', `/v1/jobs/${id}`)).json;

async function succeeded(id: string) {
  return waitFor(
    `job ${id} to succeed`,
    async () => {
      const j = await job(id);
      if (['failed', 'cancelled'].includes(j.status)) throw new Error(`job ${id} ended ${j.status}: ${j.error}`);
      return j.status === 'succeeded' && j;
    },
    120_000,
  );
}

/** the device class of the worker that ran the job's last attempt (BullMQ records the worker's name) */
async function ranOn(id: string, device: 'gpu' | 'cpu' | 'any'): Promise<string | undefined> {
  const found = await locate(h.app.queue.lanes, { id, kind: 'cpc', device });
  return parseWorkerName(found?.job.processedBy)?.serves;
}

async function stop(worker: ChildProcess) {
  worker.kill('SIGTERM');
  await waitFor('the worker to stop', async () => worker.exitCode !== null || worker.signalCode !== null, 60_000);
}

describe('device routing', () => {
  it('refuses a device the API does not know', async () => {
    const r = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'tpu' });
    expect(r.status).toBe(400);
    expect(r.json.message).toMatch(/device/);
  });

  it('a gpu job waits for a GPU worker while cpu and any jobs run on the CPU worker; then the GPU worker takes it', async () => {
    const gpuJob = await submit(201, 'gpu');
    const cpuJob = await submit(202, 'cpu');
    const anyJob = await submit(203);
    await succeeded(cpuJob);
    await succeeded(anyJob);
    expect(await ranOn(cpuJob, 'cpu')).toBe('cpu');
    expect(await ranOn(anyJob, 'any')).toBe('cpu');
    // the CPU worker was free the whole time and never took it
    expect(await job(gpuJob)).toMatchObject({ status: 'queued', device: 'gpu', attempts: 0 });
    expect((await locate(h.app.queue.lanes, { id: gpuJob, kind: 'cpc', device: 'gpu' }))?.queue.name).toBe('cpc-jobs-gpu');

    const healthFile = join(h.servicesDir, 'gpu-worker-alive');
    h.addWorker({ ...FAKE_GPU, WORKER_HEALTH_FILE: healthFile });
    await succeeded(gpuJob);
    expect(await ranOn(gpuJob, 'gpu')).toBe('gpu');
    // the sign of life the compose health check reads
    expect(Date.now() - statSync(healthFile).mtimeMs).toBeLessThan(30_000);
    const info = await api(h, 'GET', '/v1/info');
    expect(info.json.workers).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ serves: 'gpu', queues: expect.arrayContaining(['cpc-gpu', 'probe-gpu']) }),
        expect.objectContaining({ serves: 'cpu', queues: expect.arrayContaining(['cpc', 'probe']) }),
      ]),
    );
  });

  it('with only a GPU worker: cpu jobs wait, any jobs are claimed one at a time (WORKER_CONCURRENCY 1), and a CPU worker later takes the cpu job', async () => {
    for (const w of liveWorkers(h)) await stop(w);
    h.addWorker(FAKE_GPU);
    const cpuJob = await submit(211, 'cpu');
    const anyJobs = [await submit(212), await submit(213)];
    const done = [await succeeded(anyJobs[0]), await succeeded(anyJobs[1])];
    for (const id of anyJobs) expect(await ranOn(id, 'any')).toBe('gpu');
    // one slot: the second started only after the first had finished
    const [first, second] = done.sort((a, b) => Date.parse(a.startedAt) - Date.parse(b.startedAt));
    expect(Date.parse(second.startedAt)).toBeGreaterThanOrEqual(Date.parse(first.finishedAt));
    expect(await job(cpuJob)).toMatchObject({ status: 'queued', attempts: 0 });

    h.addWorker();
    await succeeded(cpuJob);
    expect(await ranOn(cpuJob, 'cpu')).toBe('cpu');
    const report = await checkInvariants(h);
    expect(report.violations).toEqual([]);
  });

  it('a claim pass moves only `any` jobs, highest priority first, no more than the free slots less what waits in the gpu lane; without GPU workers they go back', async () => {
    const db = h.app.db;
    // a prefix no worker of the harness consumes
    await withScratchQueues(h, 'claim-direct', async ({ queues, createJob: scratchJob }) => {
      let seed = 220;
      const add = async (device: 'any' | 'cpu' | 'gpu', priority: number) => {
        seed++;
        const { job: row } = await scratchJob({
          ownerId: DEFAULT_OWNER_ID,
          kind: 'cpc',
          config: tinyConfig({ seed }),
          seed,
          priority,
          device,
          totalSteps: 6,
        });
        await enqueue(queues, row, 1);
        return row.id;
      };
      const laneOfJob = async (id: string) => (await locate(queues, { id, kind: 'cpc', device: 'any' }))?.queue.name;
      const low = await add('any', 10);
      const high = await add('any', 90);
      const cpu = await add('cpu', 100);
      expect(await claimOnce({ db, queues, kind: 'cpc', freeSlots: () => 0 })).toEqual([]);
      expect(await claimOnce({ db, queues, kind: 'cpc', freeSlots: () => 1 })).toEqual([high]);
      // the moved job waits in the gpu lane: a pass with one free slot takes nothing more
      expect(await claimOnce({ db, queues, kind: 'cpc', freeSlots: () => 1 })).toEqual([]);
      expect(await laneOfJob(high)).toBe('cpc-jobs-gpu');
      expect(await laneOfJob(low)).toBe('cpc-jobs');
      expect((await locate(queues, { id: cpu, kind: 'cpc', device: 'cpu' }))?.state).toBe('prioritized');
      // a cpu job is never moved, whatever the free slots
      expect(await claimOnce({ db, queues, kind: 'cpc', freeSlots: () => 5 })).toEqual([low]);
      expect((await locate(queues, { id: cpu, kind: 'cpc', device: 'cpu' }))?.queue.name).toBe('cpc-jobs');

      // no GPU worker consumes this prefix's gpu lane: the claimed any jobs go back, a gpu job stays,
      // and one waiting out a retry's backoff keeps what is left of it
      const gpuOnly = await add('gpu', 50);
      const backingOff = await add('cpu', 50);
      await db.job.update({ where: { id: backingOff }, data: { device: 'any' } });
      await (await queues.cpc.shared.getJob(backingOff))!.remove();
      await queues.cpc.gpu.add('cpc', { jobId: backingOff, device: 'any' }, { ...jobOptions(backingOff, 50, 1), delay: 60_000 });
      expect((await returnStranded(db, queues, 'cpc')).sort()).toEqual([high, low, backingOff].sort());
      const delayed = await locate(queues, { id: backingOff, kind: 'cpc', device: 'any' });
      expect(delayed).toMatchObject({ state: 'delayed', queue: { name: 'cpc-jobs' } });
      expect(delayed!.job.delay).toBeGreaterThan(50_000);
      expect(await laneOfJob(high)).toBe('cpc-jobs');
      expect(await laneOfJob(low)).toBe('cpc-jobs');
      expect((await locate(queues, { id: gpuOnly, kind: 'cpc', device: 'gpu' }))?.queue.name).toBe('cpc-jobs-gpu');
    });
  });

  it('an any job left active in a GPU queue whose last GPU worker died (no lock, no worker) is requeued to the shared queue by the reaper', async () => {
    const db = h.app.db;
    await withScratchQueues(h, 'abandoned-direct', async ({ queues, connection, createJob: scratchJob }) => {
      const holderConnection = redisConnection(h.config.REDIS_URL);
      // takes the job the way a GPU worker does, then "dies" (closes without finishing it)
      const holder = new Worker(queueName('cpc', 'gpu'), null, {
        connection: holderConnection,
        prefix: 'abandoned-direct',
        autorun: false,
      });
      const { job: row } = await scratchJob({
        ownerId: DEFAULT_OWNER_ID,
        kind: 'cpc',
        config: tinyConfig({ seed: 230 }),
        seed: 230,
        priority: 50,
        device: 'any',
        totalSteps: 6,
      });
      await queues.cpc.gpu.add('cpc', { jobId: row.id, device: 'any' }, jobOptions(row.id, 50, 1));
      expect((await holder.getNextJob('gone-worker'))?.id).toBe(row.id);
      await start(db, row.id, { host: 'gpu-host-gone', backend: 'test' });
      await holder.close();
      holderConnection.disconnect();
      await connection.del(`${queues.cpc.gpu.toKey(row.id)}:lock`); // its lock expired
      expect((await locate(queues, row))?.state).toBe('active');
      const reapConfig = {
        HEARTBEAT_TIMEOUT_MS: 0,
        ORPHAN_QUEUED_MS: 3_600_000,
        CRASH_BUDGET: 3,
        JOB_ATTEMPTS: 1,
        IDEMPOTENCY_TTL_MS: 3_600_000,
      };
      const report = await waitFor(
        'no worker to be registered on the gpu queue, and the reaper to act',
        async () => {
          const r = await reapOnce({ db, queues, config: reapConfig, log: () => undefined });
          return r.reenqueued.includes(row.id) && r;
        },
        10_000,
      );
      expect(report.reenqueued).toEqual([row.id]);
      expect(await db.job.findUniqueOrThrow({ where: { id: row.id } })).toMatchObject({ status: 'queued', crashes: 1 });
      expect(await locate(queues, row)).toMatchObject({ state: 'prioritized', queue: { name: 'cpc-jobs' } });
    });
  });

  it('a second queue entry of a running job (a claim that raced a re-enqueue) takes over once; the job still succeeds', async () => {
    for (const w of liveWorkers(h)) await stop(w);
    h.addWorker();
    h.addWorker(FAKE_GPU);
    const id = await submit(240);
    const running = await waitFor(
      'the job to run',
      async () => {
        const j = await job(id);
        return j.status === 'running' && j.step >= 2 && j;
      },
      120_000,
    );
    const where = await locate(h.app.queue.lanes, { id, kind: 'cpc', device: 'any' });
    const other = where!.queue.name === 'cpc-jobs' ? h.app.queue.lanes.cpc.gpu : h.app.queue.lanes.cpc.shared;
    await other.add('cpc', { jobId: id, device: 'any' }, jobOptions(id, 50, h.config.JOB_ATTEMPTS));
    await waitFor('the second entry to take the job over', async () => (await job(id)).attempts > running.attempts, 60_000);
    const done = await succeeded(id);
    // the twin took the lease once (the first attempt then stopped without writing or retrying)
    const story = async () => {
      const lanes = [h.app.queue.lanes.cpc.shared, h.app.queue.lanes.cpc.gpu];
      const logs = await Promise.all(
        lanes.map(async (q) => {
          const entry = await q.getJob(id);
          const facts = entry && {
            attemptsMade: entry.attemptsMade,
            stalled: entry.stalledCounter,
            by: entry.processedBy,
            failed: entry.failedReason,
          };
          return `${q.name}: ${JSON.stringify(facts)} ${(await q.getJobLogs(id)).logs.join(' | ')}`;
        }),
      );
      const workerLines = h.workerLog
        .join('')
        .split('\n')
        .filter((line) => line.includes(id));
      return [JSON.stringify({ running: running.attempts, attempts: done.attempts, crashes: done.crashes }), ...logs, ...workerLines].join(
        '\n',
      );
    };
    expect({ attempts: done.attempts, crashes: done.crashes }, await story()).toEqual({ attempts: running.attempts + 1, crashes: 1 });
    const report = await checkInvariants(h);
    expect(report.violations).toEqual([]);
  });

  it('a GPU worker whose backend sees no GPU refuses to start, saying why', async () => {
    const log: string[] = [];
    const w = startWorker({ ...h.env, WORKER_DEVICE: 'gpu' }, log);
    const code = await new Promise<number | null>((resolve) => w.once('exit', resolve));
    expect(code).toBe(1);
    expect(log.join('')).toMatch(/WORKER_DEVICE=gpu, but the training backend \(wasm on .*\) sees no GPU/);
  });
});
