/** BullMQ queues of the service: names, connections and job options in one place. */
import { Queue, QueueEvents, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export const JOB_KINDS = ['cpc', 'probe'] as const;
export type JobKindName = (typeof JOB_KINDS)[number];

/** BullMQ needs maxRetriesPerRequest: null on blocking connections. */
export function redisConnection(url: string, extra: RedisOptions = {}): Redis {
  return new Redis(url, { maxRetriesPerRequest: null, enableReadyCheck: true, ...extra });
}

/** what a worker runs on, as GET /v1/info shows it */
export interface WorkerRuntime {
  host: string;
  pid: number;
  backend: { name: string; package: string; version: string; tensorflow?: string; device: string; gpu: boolean; threads: number };
}

/**
 * A BullMQ worker name carrying its runtime (Redis client names allow no
 * spaces, and BullMQ splits on ':'): base64url JSON.
 */
export function workerName(runtime: WorkerRuntime): string {
  return Buffer.from(JSON.stringify(runtime)).toString('base64url');
}

export function parseWorkerName(name: string | undefined): WorkerRuntime | null {
  if (!name) return null;
  try {
    const v = JSON.parse(Buffer.from(name, 'base64url').toString('utf8')) as WorkerRuntime;
    return typeof v?.host === 'string' && typeof v?.backend?.name === 'string' ? v : null;
  } catch {
    return null;
  }
}

export function queueName(kind: JobKindName): string {
  return `${kind}-jobs`;
}

export function jobOptions(jobId: string, priority: number, attempts: number): JobsOptions {
  return {
    jobId,
    // BullMQ: 1 is the highest priority; our API takes 0..100 with higher = sooner
    priority: Math.max(1, 101 - priority),
    attempts,
    backoff: { type: 'exponential', delay: 2000 },
    removeOnComplete: { age: 7 * 24 * 3600 },
    removeOnFail: { age: 30 * 24 * 3600 },
  };
}

/**
 * What Postgres records for a job BullMQ gave up on: its failure reason, or, when BullMQ failed it
 * for stalling too often (its worker vanished once more than the crash budget allows), that in
 * words. One place, because the worker's failure listener and the reaper can each be first.
 */
export function describeFailure(failedReason: string): { error: string; crashed: boolean } {
  const stalled = /stalled more than allowable limit/.test(failedReason);
  // (the budget is the failing worker's CRASH_BUDGET, which need not be the writer's)
  return stalled ? { error: "crash budget exhausted: the job's worker vanished more often than its crash budget allows", crashed: true } : { error: failedReason, crashed: false };
}

export interface Queues {
  queues: Record<JobKindName, Queue>;
  events: Record<JobKindName, QueueEvents>;
  connection: Redis;
  close(): Promise<void>;
}

/** `onError` receives connection errors (Redis away, ...), which would otherwise be unhandled 'error' events. */
export function createQueues(redisUrl: string, prefix: string, onError: (err: Error) => void = () => undefined): Queues {
  const connection = redisConnection(redisUrl);
  connection.on('error', onError);
  const queues = Object.fromEntries(JOB_KINDS.map((k) => [k, new Queue(queueName(k), { connection, prefix })])) as Record<JobKindName, Queue>;
  const events = Object.fromEntries(
    JOB_KINDS.map((k) => {
      const eventsConnection = redisConnection(redisUrl);
      eventsConnection.on('error', onError);
      return [k, new QueueEvents(queueName(k), { connection: eventsConnection, prefix })];
    }),
  ) as Record<JobKindName, QueueEvents>;
  for (const q of Object.values(queues)) q.on('error', onError);
  for (const e of Object.values(events)) e.on('error', onError);
  return {
    queues,
    events,
    connection,
    async close() {
      await Promise.all([...Object.values(events).map((e) => e.close()), ...Object.values(queues).map((q) => q.close())]);
      connection.disconnect();
    },
  };
}
