/**
 * BullMQ queues of the service: names, connections and job options in one place.
 *
 * Device routing: each job kind has two lanes (queues). `gpu` jobs wait in the
 * gpu lane, which only GPU workers consume. `cpu` and `any` jobs wait in the
 * shared lane, which CPU workers consume; a GPU worker with a free slot and
 * nothing in its own lane claims `any` jobs from there (./claim.ts), so an
 * `any` job may be found in either lane.
 */
import { Queue, QueueEvents, type Job, type JobsOptions } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';

export const JOB_KINDS = ['cpc', 'probe'] as const;
export type JobKindName = (typeof JOB_KINDS)[number];

export const JOB_DEVICES = ['any', 'gpu', 'cpu'] as const;
export type JobDevice = (typeof JOB_DEVICES)[number];
/** what a worker runs its jobs on */
export type WorkerDevice = 'gpu' | 'cpu';

export const LANES = ['shared', 'gpu'] as const;
export type Lane = (typeof LANES)[number];

/** the lane a job is enqueued to */
export function laneOf(device: JobDevice): Lane {
  return device === 'gpu' ? 'gpu' : 'shared';
}

/** every lane a job may be in: an `any` job a GPU worker claimed moved to the gpu lane */
export function lanesOf(device: JobDevice): Lane[] {
  return device === 'any' ? ['shared', 'gpu'] : [laneOf(device)];
}

/** the lane a worker consumes */
export function laneServedBy(device: WorkerDevice): Lane {
  return device === 'gpu' ? 'gpu' : 'shared';
}

/** what a BullMQ job carries (everything else is in Postgres) */
export interface JobPayload {
  jobId: string;
  device: JobDevice;
}

export type JobQueue = Queue<JobPayload, unknown, JobKindName>;
/** a job's entry in a lane */
export type JobEntry = Job<JobPayload, unknown, JobKindName>;
export type LaneQueues = Record<JobKindName, Record<Lane, JobQueue>>;

/** how long a producer waits for Redis to answer one command */
export const PRODUCER_COMMAND_TIMEOUT_MS = 3000;

/**
 * A producer connection that stops waiting for a frozen Redis (stopped, swapping, partitioned:
 * the connection stays up, so nothing fails fast by itself). A ping every `everyMs`; one that
 * times out drops the connection, and until Redis answers its ready check again every command
 * on it fails at once instead of each waiting out the command timeout. Returns the stop function.
 */
export function watchProducer(redis: Redis, everyMs = 1000): () => void {
  let pinging = false;
  const timer = setInterval(() => {
    if (pinging || redis.status !== 'ready') return;
    pinging = true;
    redis
      .ping()
      .catch((err: Error) => {
        if (/Command timed out/.test(err.message)) redis.disconnect(true);
      })
      .finally(() => (pinging = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * The two kinds of Redis connection (BullMQ's "going to production" guide):
 * - `consumer` (workers, QueueEvents, the reaper): waits out a Redis outage, retrying every
 *   command (maxRetriesPerRequest: null, which BullMQ requires for blocking commands);
 * - `producer` (the API, on the request path): never waits. No offline queue, one retry, and a
 *   command timeout, so a call fails at once while Redis is away or frozen.
 */
export function redisConnection(url: string, role: 'producer' | 'consumer' = 'consumer'): Redis {
  const options: RedisOptions =
    role === 'consumer'
      ? { maxRetriesPerRequest: null, enableReadyCheck: true }
      : {
          enableReadyCheck: true,
          enableOfflineQueue: false,
          maxRetriesPerRequest: 1,
          connectTimeout: 2000,
          commandTimeout: PRODUCER_COMMAND_TIMEOUT_MS,
        };
  return new Redis(url, options);
}

/** what a worker runs on, as GET /v1/info shows it */
export interface WorkerRuntime {
  host: string;
  pid: number;
  backend: { name: string; package: string; version: string; tensorflow?: string; device: string; gpu: boolean; threads: number };
  /** the lane it serves: gpu or cpu */
  serves?: WorkerDevice;
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

/** the shared lane keeps the name the queues had before device routing, so jobs queued then still run */
export function queueName(kind: JobKindName, lane: Lane = 'shared'): string {
  return lane === 'shared' ? `${kind}-jobs` : `${kind}-jobs-${lane}`;
}

/** how metrics and GET /v1/info name a lane: `cpc`, `probe` (shared), `cpc-gpu`, `probe-gpu` */
export function laneLabel(kind: JobKindName, lane: Lane): string {
  return lane === 'shared' ? kind : `${kind}-${lane}`;
}

/** the ioredis connection a lane queue was built on (laneQueues below), for keys BullMQ has no call for */
export function laneRedis(queue: JobQueue): Redis {
  return queue.opts.connection as Redis;
}

/** one Queue per kind and lane on one connection */
export function laneQueues(connection: Redis, prefix: string): LaneQueues {
  const perKind = (kind: JobKindName) =>
    Object.fromEntries(LANES.map((lane) => [lane, new Queue(queueName(kind, lane), { connection, prefix }) as JobQueue])) as Record<
      Lane,
      JobQueue
    >;
  return Object.fromEntries(JOB_KINDS.map((kind) => [kind, perKind(kind)])) as LaneQueues;
}

export function allQueues(queues: LaneQueues): JobQueue[] {
  return JOB_KINDS.flatMap((kind) => LANES.map((lane) => queues[kind][lane]));
}

/** what finds a job in the queues */
export interface JobRef {
  id: string;
  kind: JobKindName;
  device: JobDevice;
}

export interface QueuedJob extends JobRef {
  priority: number;
}

/** put a job in its lane (BullMQ ignores an id the queue already holds) */
export async function enqueue(queues: LaneQueues, job: QueuedJob, attempts: number): Promise<void> {
  const payload: JobPayload = { jobId: job.id, device: job.device };
  await queues[job.kind][laneOf(job.device)].add(job.kind, payload, jobOptions(job.id, job.priority, attempts));
}

/** remove a job's entries from every lane it may be in (BullMQ refuses, and this throws, while one is active) */
export async function removeFromLanes(queues: LaneQueues, job: JobRef): Promise<void> {
  for (const lane of lanesOf(job.device)) await (await queues[job.kind][lane].getJob(job.id))?.remove();
}

const LIVELINESS = ['active', 'waiting', 'prioritized', 'delayed', 'waiting-children', 'failed', 'completed'];

export interface Located {
  queue: JobQueue;
  job: JobEntry;
  state: string;
}

/**
 * Where a job is in BullMQ: of the lanes it may be in, the entry that is most
 * alive (active, then waiting, ..., then finished); null when no lane holds it.
 */
export async function locate(queues: LaneQueues, job: JobRef): Promise<Located | null> {
  const found: Located[] = [];
  for (const lane of lanesOf(job.device)) {
    const queue = queues[job.kind][lane];
    const entry = await queue.getJob(job.id);
    if (entry) found.push({ queue, job: entry, state: await entry.getState() });
  }
  const rank = (state: string) => (LIVELINESS.includes(state) ? LIVELINESS.indexOf(state) : LIVELINESS.length);
  return found.sort((a, b) => rank(a.state) - rank(b.state))[0] ?? null;
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
  return stalled
    ? { error: "crash budget exhausted: the job's worker vanished more often than its crash budget allows", crashed: true }
    : { error: failedReason, crashed: false };
}

/** one QueueEvents per kind and lane, each on its own consumer connection (they block on Redis streams) */
export function laneEvents(
  redisUrl: string,
  prefix: string,
  onError: (err: Error) => void,
): Record<JobKindName, Record<Lane, QueueEvents>> {
  const open = (kind: JobKindName, lane: Lane) => {
    const connection = redisConnection(redisUrl);
    connection.on('error', onError);
    const events = new QueueEvents(queueName(kind, lane), { connection, prefix });
    events.on('error', onError);
    return events;
  };
  return Object.fromEntries(JOB_KINDS.map((kind) => [kind, Object.fromEntries(LANES.map((lane) => [lane, open(kind, lane)]))])) as Record<
    JobKindName,
    Record<Lane, QueueEvents>
  >;
}
