/**
 * Worker entry: consumes the job queues with sandboxed processors (each
 * training job runs in a child process, so a long synchronous TensorFlow.js
 * step never stalls BullMQ's lock renewal and a crash stays contained).
 */
import { Worker, type Job } from 'bullmq';
import closeWithGrace from 'close-with-grace';
import { pino } from 'pino';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { loadConfig } from './config.js';
import { migrate } from './store/migrate.js';
import { createDb } from './store/db.js';
import { finish } from './store/jobs.js';
import { JOB_KINDS, queueName, redisConnection } from './queue/queues.js';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';

export async function startWorker() {
  const config = loadConfig();
  const log = pino({ level: config.LOG_LEVEL, name: 'cpc-worker' });
  await migrate(config.DATABASE_URL);
  const db = createDb({ databaseUrl: config.DATABASE_URL, queryTimeoutMs: config.PG_QUERY_TIMEOUT_MS, connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS, poolSize: 3 });
  const workers = JOB_KINDS.map((kind) => {
    const processor = pathToFileURL(join(here, 'worker', `${kind}-processor.${ext}`));
    const worker = new Worker(queueName(kind), processor, {
      connection: redisConnection(config.REDIS_URL),
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      useWorkerThreads: false,
    });
    worker.on('active', (job: Job) => log.info({ jobId: job.id, kind, attempt: job.attemptsMade + 1 }, 'job started'));
    worker.on('completed', (job: Job) => log.info({ jobId: job.id, kind }, 'job finished'));
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (!job) return;
      const final = job.attemptsMade >= (job.opts.attempts ?? 1);
      log.warn({ jobId: job.id, kind, attempt: job.attemptsMade, final, err: err.message }, 'job attempt failed');
      // Postgres says failed only when no retry will follow
      if (final) finish(db, job.data.jobId, 'failed', { error: err.message }).catch((e) => log.error({ err: e }, 'could not record failure'));
    });
    worker.on('error', (err) => log.error({ kind, err: err.message }, 'worker error'));
    return worker;
  });
  log.info({ concurrency: config.WORKER_CONCURRENCY, queues: JOB_KINDS }, 'worker ready');
  closeWithGrace({ delay: 30_000 }, async ({ signal, err }) => {
    if (err) log.error({ err }, 'worker crashed');
    log.info({ signal }, 'worker closing');
    await Promise.all(workers.map((w) => w.close()));
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
