/**
 * Service configuration from the environment, validated at start (env-schema
 * + TypeBox). One schema for the API and the workers.
 */
import { envSchema } from 'env-schema';
import { Type, type Static } from 'typebox';
import { join, resolve } from 'node:path';

export const ConfigSchema = Type.Object({
  DATABASE_URL: Type.String({ pattern: '^postgres(ql)?://', description: 'PostgreSQL connection URL' }),
  REDIS_URL: Type.String({ pattern: '^rediss?://', description: 'Redis connection URL' }),
  HOST: Type.String({ default: '127.0.0.1' }),
  PORT: Type.Integer({ default: 3000, minimum: 0, maximum: 65535 }),
  LOG_LEVEL: Type.Union(
    [
      Type.Literal('fatal'),
      Type.Literal('error'),
      Type.Literal('warn'),
      Type.Literal('info'),
      Type.Literal('debug'),
      Type.Literal('trace'),
      Type.Literal('silent'),
    ],
    { default: 'info' },
  ),
  ARTIFACT_STORE: Type.Union([Type.Literal('local'), Type.Literal('postgres')], { default: 'local' }),
  ARTIFACT_DIR: Type.String({ default: '.local/artifacts' }),
  /** scratch space of running attempts (default: ARTIFACT_DIR/../work); never read by another attempt */
  WORK_DIR: Type.Optional(Type.String()),
  WORKER_CONCURRENCY: Type.Integer({ default: 1, minimum: 1, maximum: 64 }),
  /**
   * which jobs a worker takes: gpu (\`device: gpu\` jobs, and \`any\` ones while it has a free slot)
   * or cpu (\`cpu\` and \`any\` jobs). auto: gpu when the training backend sees a GPU. A gpu worker
   * whose TensorFlow sees no GPU refuses to start (unless GPU_WORKER_WITHOUT_GPU).
   */
  WORKER_DEVICE: Type.Union([Type.Literal('auto'), Type.Literal('gpu'), Type.Literal('cpu')], { default: 'auto' }),
  /** tests only: let WORKER_DEVICE=gpu serve the GPU queues on a CPU backend (no GPU is reachable in CI) */
  GPU_WORKER_WITHOUT_GPU: Type.Boolean({ default: false }),
  /** a file the worker rewrites every 10 s while its event loop runs (for container health checks; unset: none) */
  WORKER_HEALTH_FILE: Type.Optional(Type.String({ minLength: 1 })),
  /**
   * where a worker serves its Prometheus metrics (GET /metrics): a port (0 = none) and the address it
   * binds (like HOST: 0.0.0.0 to be scraped from other machines). Several workers on one machine need
   * a port each; a port that is taken is logged and the worker runs without
   */
  WORKER_METRICS_PORT: Type.Integer({ default: 9464, minimum: 0, maximum: 65535 }),
  WORKER_METRICS_HOST: Type.String({ default: '127.0.0.1' }),
  /** how often an idle GPU worker looks for \`any\` jobs to take from the shared queue */
  CLAIM_INTERVAL_MS: Type.Integer({ default: 1000, minimum: 100 }),
  CPC_BACKEND: Type.Union(
    [Type.Literal('auto'), Type.Literal('node-gpu'), Type.Literal('node'), Type.Literal('wasm'), Type.Literal('cpu')],
    { default: 'auto' },
  ),
  /** TensorFlow intra-op threads per training process on the native backends (0 = the cores the process may use, cgroup limits included) */
  TRAIN_THREADS: Type.Integer({ default: 0, minimum: 0, maximum: 256 }),
  /** data-parallel threads per training job (0 = one per core) */
  TRAIN_WORKERS: Type.Integer({ default: 0, minimum: 0, maximum: 64 }),
  METRICS_EVERY: Type.Integer({ default: 10, minimum: 1, description: 'steps between metric rows' }),
  LOG_LINES_PER_ATTEMPT: Type.Integer({ default: 2000, minimum: 10, maximum: 100_000, description: 'log lines kept of each job attempt' }),
  PG_QUERY_TIMEOUT_MS: Type.Integer({ default: 5000, minimum: 100 }),
  PG_CONNECT_TIMEOUT_MS: Type.Integer({ default: 2000, minimum: 100 }),
  MODEL_CACHE_SIZE: Type.Integer({ default: 4, minimum: 1 }),
  /**
   * backend of the API's inference threads. wasm by default: a small prediction costs a few large-op
   * calls, where tfjs-node's per-op overhead dominates (single image p50 1.8 ms on wasm vs 5-7 ms
   * native; 256-image embeds run 1.3-1.5x faster native: BENCHMARKS.md)
   */
  INFERENCE_BACKEND: Type.Union(
    [Type.Literal('auto'), Type.Literal('node-gpu'), Type.Literal('node'), Type.Literal('wasm'), Type.Literal('cpu')],
    { default: 'wasm' },
  ),
  /** threads of the API process that decode images and run models for predict/embed (off the event loop) */
  INFERENCE_THREADS: Type.Integer({ default: 1, minimum: 1, maximum: 64 }),
  /** predict/embed requests that may wait for an inference thread; more get 503 */
  INFERENCE_QUEUE: Type.Integer({ default: 64, minimum: 1 }),
  QUEUE_PREFIX: Type.String({ default: 'cpc' }),
  /** API keys: `on` (writes, predict and downloads need a key) or `off` (trusted network only) */
  AUTH: Type.Union([Type.Literal('on'), Type.Literal('off')], { default: 'on' }),
  /** whether GET routes need a `read` key too (false makes every owner's resources readable by anyone) */
  READS_REQUIRE_KEY: Type.Boolean({ default: true }),
  /** how long an Idempotency-Key names the same job (per owner); after that it names a new one */
  IDEMPOTENCY_TTL_MS: Type.Integer({ default: 24 * 3600_000, minimum: 1000 }),
  AUTH_CACHE_MS: Type.Integer({ default: 10_000, minimum: 0 }),
  /** requests with an invalid API key a client address may send per minute before it gets 429 (each costs a database lookup) */
  AUTH_FAILURES_PER_MIN: Type.Integer({ default: 30, minimum: 1 }),
  /** requests per minute per API key (or per client address without a key), shared by all API replicas through Redis */
  RATE_LIMIT_PER_MIN: Type.Integer({ default: 1200, minimum: 1 }),
  /** longest a request handler may run before the client gets 503 */
  REQUEST_TIMEOUT_MS: Type.Integer({ default: 30_000, minimum: 100 }),
  /** longest a client may take to send a whole request (headers and body) before it gets 408 and the connection closes */
  REQUEST_BODY_TIMEOUT_MS: Type.Integer({ default: 20_000, minimum: 100 }),
  /** how often an event stream sends a comment when there is no news (proxies close quiet connections) */
  EVENT_STREAM_KEEPALIVE_MS: Type.Integer({ default: 15_000, minimum: 100 }),
  /**
   * behind a reverse proxy: which peers to trust for X-Forwarded-For, so that per-address limits see
   * the client and not the proxy. Empty = none (the default); `true` (any peer), or addresses/CIDRs
   * separated by commas (Fastify's trustProxy)
   */
  TRUST_PROXY: Type.String({ default: '' }),
  /** open connections one client address may hold (0 = no cap; set 0 behind a proxy that caps clients itself, as every client then shares its address) */
  MAX_CONNECTIONS_PER_CLIENT: Type.Integer({ default: 64, minimum: 0 }),
  /** predict/embed requests one API key (or keyless client address) may have in flight on one API process; more get 429 */
  PREDICT_CONCURRENCY_PER_KEY: Type.Integer({ default: 4, minimum: 1 }),
  /** open event streams per API key (or client address) and in all, on one API process; more get 429 */
  EVENT_STREAMS_PER_KEY: Type.Integer({ default: 8, minimum: 1 }),
  EVENT_STREAMS_MAX: Type.Integer({ default: 256, minimum: 1 }),
  /**
   * a live feed (the one an API process keeps per streamed job or experiment) reads what is new when
   * Postgres notifies a change, and at least this often besides (notifications are lost while the
   * listening connection is down)
   */
  LIVE_FEED_RESYNC_MS: Type.Integer({ default: 5000, minimum: 100 }),
  /** data set uploads (POST /v1/datasets): the largest upload, all its files together (413 past it) */
  DATASET_MAX_UPLOAD_BYTES: Type.Integer({ default: 256 * 1024 * 1024, minimum: 1024 }),
  /** images a data set may hold */
  DATASET_MAX_IMAGES: Type.Integer({ default: 100_000, minimum: 10 }),
  /** entries an uploaded archive may hold, and the bytes they may expand to, in all and per byte uploaded */
  DATASET_MAX_ENTRIES: Type.Integer({ default: 200_000, minimum: 10 }),
  DATASET_MAX_EXPANDED_BYTES: Type.Integer({ default: 1024 * 1024 * 1024, minimum: 1024 }),
  DATASET_MAX_EXPANSION_RATIO: Type.Integer({ default: 100, minimum: 1 }),
  /** the longest side of an image in an uploaded PNG data set (each becomes 28x28) */
  DATASET_MAX_SIDE: Type.Integer({ default: 256, minimum: 28, maximum: 1024 }),
  /** longest an upload (sent and checked) may take: POST /v1/datasets's body and handler timeout */
  DATASET_UPLOAD_TIMEOUT_MS: Type.Integer({ default: 600_000, minimum: 1000 }),
  /** where uploads are unpacked and checked, and where workers cache data sets by checksum (default: ARTIFACT_DIR/../datasets) */
  DATASET_DIR: Type.Optional(Type.String()),
  /** attempts per job for errors a job raises itself (a killed sandbox child counts as one); BullMQ attempts */
  JOB_ATTEMPTS: Type.Integer({ default: 3, minimum: 1, maximum: 100 }),
  /** worker crashes (lost locks: process killed, machine gone) a job survives before it fails; BullMQ maxStalledCount */
  CRASH_BUDGET: Type.Integer({ default: 3, minimum: 0, maximum: 100 }),
  /** BullMQ job lock; a crashed worker's job is picked up again within about this long */
  JOB_LOCK_MS: Type.Integer({ default: 30_000, minimum: 1000 }),
  /** how often a running attempt renews its heartbeat in Postgres (and sees cancel requests) */
  HEARTBEAT_MS: Type.Integer({ default: 1000, minimum: 100 }),
  /** the reaper treats a running job whose heartbeat is older than this as orphaned */
  HEARTBEAT_TIMEOUT_MS: Type.Integer({ default: 120_000, minimum: 1000 }),
  /** how often each worker runs the reaper (0 = never) */
  REAPER_INTERVAL_MS: Type.Integer({ default: 30_000, minimum: 0 }),
  /** a queued job missing from Redis for this long is enqueued again by the reaper */
  ORPHAN_QUEUED_MS: Type.Integer({ default: 60_000, minimum: 1000 }),
});

export type ServiceConfig = Static<typeof ConfigSchema> & { WORK_DIR: string; DATASET_DIR: string };

export class ConfigurationError extends Error {
  constructor(message: string) {
    super(`invalid configuration: ${message}`);
    this.name = 'ConfigurationError';
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ServiceConfig {
  try {
    const config = envSchema<ServiceConfig>({ schema: ConfigSchema, data: env, dotenv: false });
    const artifactDir = resolve(config.ARTIFACT_DIR);
    return {
      ...config,
      ARTIFACT_DIR: artifactDir,
      WORK_DIR: resolve(config.WORK_DIR ?? join(artifactDir, '..', 'work')),
      DATASET_DIR: resolve(config.DATASET_DIR ?? join(artifactDir, '..', 'datasets')),
    };
  } catch (err) {
    throw new ConfigurationError((err as Error).message);
  }
}
