/** Database, queues and artifact store as Fastify decorations, closed with the app. */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { ServiceConfig } from '../../config.js';
import { createDb, type Db } from '../../store/db.js';
import type { Redis } from 'ioredis';
import { createQueues, redisConnection, type Queues } from '../../queue/queues.js';
import { ArtifactStores, type ArtifactStore } from '../../artifacts/store.js';
import { InferencePool } from '../inference/pool.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: ServiceConfig;
    db: Db;
    queues: Queues;
    /** a Redis connection that fails at once while Redis is away (no offline queue), for request-path calls */
    redis: Redis;
    artifacts: ArtifactStore;
    /** the threads that decode images and run the models (predict, embed) */
    inference: InferencePool;
  }
}

export default fp(async function services(app: FastifyInstance, opts: { config: ServiceConfig }) {
  const { config } = opts;
  const db = createDb({
    databaseUrl: config.DATABASE_URL,
    queryTimeoutMs: config.PG_QUERY_TIMEOUT_MS,
    connectTimeoutMs: config.PG_CONNECT_TIMEOUT_MS,
  });
  app.decorate('db', db);
  // Redis errors repeat every reconnect attempt: log the first of each kind per minute
  let lastLogged = 0;
  const onRedisError = (err: Error) => {
    if (Date.now() - lastLogged > 60_000) app.log.warn({ err: err.message }, 'redis connection error');
    lastLogged = Date.now();
  };
  app.decorate('queues', createQueues(config.REDIS_URL, config.QUEUE_PREFIX, onRedisError));
  const redis = redisConnection(config.REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 1, connectTimeout: 2000 });
  redis.on('error', onRedisError);
  app.decorate('redis', redis);
  app.decorate('artifacts', new ArtifactStores(config.ARTIFACT_STORE, config.ARTIFACT_DIR, db));
  app.decorate(
    'inference',
    new InferencePool({
      threads: config.INFERENCE_THREADS,
      backend: config.INFERENCE_BACKEND,
      modelCacheSize: config.MODEL_CACHE_SIZE,
      maxQueue: config.INFERENCE_QUEUE,
    }),
  );
  app.addHook('onClose', async () => {
    await app.inference.close();
    await app.queues.close();
    app.redis.disconnect();
    await app.db.$disconnect();
  });
});
