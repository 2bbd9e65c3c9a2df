/**
 * Worker entry: consumes the job queues with sandboxed processors (each
 * training job runs in a child process, so a long synchronous TensorFlow.js
 * step never stalls BullMQ's lock renewal and a crash stays contained), and
 * runs the reaper.
 *
 * Failure policy (README "Reliability"):
 * - an error thrown by a job is retried `attempts` (3) times with backoff;
 * - a crash (the worker or its machine vanishes, the lock expires) is retried
 *   CRASH_BUDGET times (BullMQ maxStalledCount); a killed sandbox child costs
 *   an attempt, as BullMQ counts it as an error;
 * - every retry resumes from the job's last stored checkpoint;
 * - SIGTERM: running jobs checkpoint, go back to the queue and are resumed by
 *   any worker; no attempt is consumed.
 *
 * Device routing (queue/queues.ts): a worker serves the gpu lane or the shared
 * one, by its backend's device (WORKER_DEVICE); a GPU worker also claims
 * `any` jobs from the shared lane while it has a free slot (worker/claim.ts).
 */
import { QueueEvents, Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { loadConfig } from './config.js';
import { migrate } from './store/migrate.js';
import { createDb } from './store/db.js';
import { queueGaveUp } from './store/lifecycle.js';
import { allQueues, describeFailure, JOB_KINDS, laneQueues, laneServedBy, queueName, redisConnection, workerName } from './queue/queues.js';
import { initBackend } from './cpc/backend.js';
import { workerDevice } from './worker/device.js';
import { claimOnce } from './worker/claim.js';
import { hostname } from 'node:os';
import { reapOnce } from './worker/reaper.js';
import { startFollowUpProbe } from './worker/follow-ups.js';
import { sandboxForkOptions } from './worker/sandbox/fork-options.js';
import { settleChildInitOnExit } from './worker/sandbox/child-init.js';
import { serveMetrics, WorkerMetrics } from './worker/metrics.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

export async function startWorker() {
  settleChildInitOnExit();
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'cpc-worker' });
  // the backend the sandboxed children will use, checked here first: one that cannot load (or a GPU
  // package that sees no GPU) stops the worker at start instead of failing every job
  const backend = await initBackend(config.CPC_BACKEND, { threads: config.TRAIN_THREADS });
  const device = workerDevice(config, backend);
  const lane = laneServedBy(device);
  log.info({ backend, serves: device }, 'backend ready');
  await migrate(config.DATABASE_URL);
  const db = createDb(config, 3);
  const onRedisError = (err: Error) => log.warn({ err: err.message }, 'redis connection error');
  // every connection this process opens keeps an error listener to the end (BullMQ removes its own
  // when it closes one, and a client still reconnecting then printed "Unhandled error event")
  const connections: Redis[] = [];
  const connect = () => {
    const c = redisConnection(config.REDIS_URL);
    c.on('error', onRedisError);
    connections.push(c);
    return c;
  };
  const connection = connect();
  const queues = laneQueues(connection, config.QUEUE_PREFIX);
  for (const q of allQueues(queues)) q.on('error', onRedisError);

  const metrics = new WorkerMetrics({ labels: { backend: backend.name, device } });
  const metricsServer =
    config.WORKER_METRICS_PORT > 0
      ? await serveMetrics(metrics, config.WORKER_METRICS_HOST, config.WORKER_METRICS_PORT).catch((err: Error) => {
          log.warn(
            { err: err.message, port: config.WORKER_METRICS_PORT },
            'could not serve metrics (WORKER_METRICS_PORT); running without',
          );
          return null;
        })
      : null;
  if (metricsServer) log.info({ address: metricsServer.address() }, 'metrics at /metrics');

  // jobs each Worker is running now (a GPU worker claims `any` jobs only for free slots)
  const running = Object.fromEntries(JOB_KINDS.map((kind) => [kind, new Set<string>()]));
  const workers = JOB_KINDS.map((kind) => {
    const processor = pathToFileURL(join(here, 'worker', `${kind}-processor.${ext}`));
    const worker = new Worker(queueName(kind, lane), processor, {
      connection: connect(),
      prefix: config.QUEUE_PREFIX,
      // what this worker runs on, for GET /v1/info (queue.getWorkers())
      name: workerName({ host: hostname(), pid: process.pid, backend, serves: device }),
      concurrency: config.WORKER_CONCURRENCY,
      useWorkerThreads: false,
      // each child runs src/worker/sandbox/preload first: it exits when this process is gone
      workerForkOptions: sandboxForkOptions(),
      maxStalledCount: config.CRASH_BUDGET,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: Math.max(500, Math.floor(config.JOB_LOCK_MS / 2)),
    });
    worker.on('active', (job: Job) => {
      running[kind].add(job.id!);
      log.info({ jobId: job.id, kind, attempt: job.attemptsMade + 1 }, 'job started');
    });
    worker.on('completed', (job: Job) => {
      running[kind].delete(job.id!);
      log.info({ jobId: job.id, kind }, 'job finished');
      // a CPC job that asked for a probe gets it now (the reaper does it if this fails or never runs)
      if (kind === 'cpc')
        startFollowUpProbe(db, queues, job.id!, config.JOB_ATTEMPTS)
          .then((probeId) => probeId && log.info({ jobId: job.id, probeId }, 'probe submitted'))
          .catch((err) => log.warn({ jobId: job.id, err: (err as Error).message }, 'could not submit the probe; the reaper will'));
    });
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (!job) return;
      running[kind].delete(job.id!);
      log.warn({ jobId: job.id, kind, attemptsMade: job.attemptsMade, err: err.message }, 'job attempt failed');
    });
    worker.on('stalled', (jobId: string) => log.warn({ jobId, kind }, 'job stalled (its worker vanished); it will be retried'));
    worker.on('error', onRedisError);
    metrics.watch(kind, worker);
    return worker;
  });

  // Postgres says failed only once BullMQ has given up: a failed attempt with retries left,
  // a killed sandbox child, or a job that exhausted its crash budget all arrive here
  const events = JOB_KINDS.map((kind) => {
    const e = new QueueEvents(queueName(kind, lane), { connection: connect(), prefix: config.QUEUE_PREFIX });
    e.on('error', onRedisError);
    e.on('failed', ({ jobId, failedReason }) => {
      void (async () => {
        const job = await queues[kind][lane].getJob(jobId);
        if (!job || (await job.getState()) !== 'failed') return;
        await queueGaveUp(db, jobId, describeFailure(failedReason));
      })().catch((err) => log.error({ jobId, err: (err as Error).message }, 'could not record a failure'));
    });
    return e;
  });

  let reaping = false;
  const reaper =
    config.REAPER_INTERVAL_MS > 0
      ? setInterval(() => {
          if (reaping) return;
          reaping = true;
          reapOnce({ db, queues, config, log: (fields, msg) => log.warn(fields, msg) })
            .catch((err) => log.warn({ err: (err as Error).message }, 'reaper pass failed'))
            .finally(() => (reaping = false));
        }, config.REAPER_INTERVAL_MS)
      : null;

  // a sign of life for container health checks: rewritten while the event loop runs
  const touchHealth = () =>
    config.WORKER_HEALTH_FILE &&
    writeFile(config.WORKER_HEALTH_FILE, `${new Date().toISOString()}\n`).catch((err) =>
      log.warn({ err: (err as Error).message }, 'could not write WORKER_HEALTH_FILE'),
    );
  void touchHealth();
  const health = config.WORKER_HEALTH_FILE ? setInterval(() => void touchHealth(), 10_000) : null;

  let claiming = false;
  const claimer =
    device === 'gpu'
      ? setInterval(() => {
          if (claiming) return;
          claiming = true;
          Promise.all(
            JOB_KINDS.map((kind) => claimOnce({ db, queues, kind, freeSlots: () => config.WORKER_CONCURRENCY - running[kind].size })),
          )
            .then((ids) => ids.flat().length && log.info({ jobIds: ids.flat() }, 'claimed jobs of device any from the shared queue'))
            .catch((err) => log.warn({ err: (err as Error).message }, 'claim pass failed'))
            .finally(() => (claiming = false));
        }, config.CLAIM_INTERVAL_MS)
      : null;

  log.info(
    {
      concurrency: config.WORKER_CONCURRENCY,
      queues: JOB_KINDS.map((kind) => queueName(kind, lane)),
      serves: device,
      crashBudget: config.CRASH_BUDGET,
    },
    'worker ready',
  );
  closeWithGrace({ delay: 60_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'worker crashed');
    log.info({ signal }, 'worker closing: running jobs checkpoint and go back to the queue');
    if (reaper) clearInterval(reaper);
    if (claimer) clearInterval(claimer);
    if (health) clearInterval(health);
    metricsServer?.close();
    for (const w of workers) w.cancelAllJobs('worker shutting down');
    await Promise.all(workers.map((w) => w.close()));
    await Promise.all([...events.map((e) => e.close()), ...allQueues(queues).map((q) => q.close())]);
    for (const c of connections) c.disconnect();
    await db.$disconnect();
  });
  return workers;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  startWorker().catch((err) => {
    console.error(`cpc-worker: ${(err as Error).message}`);
    process.exit(1);
  });
}
