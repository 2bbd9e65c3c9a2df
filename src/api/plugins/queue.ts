/**
 * Redis for the API: one producer connection (fails fast while Redis is away: queue/queues.ts)
 * for the job queue, idempotency locks, rate limits and the auth-failure budget; and QueueEvents
 * (on connections that wait for Redis) for the progress that event streams relay.
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import type { Redis } from 'ioredis';
import type { QueueEvents } from 'bullmq';
import {
  allQueues,
  laneEvents,
  laneQueues,
  redisConnection,
  watchProducer,
  JOB_KINDS,
  LANES,
  type JobKindName,
  type Lane,
} from '../../queue/queues.js';
import { JobQueue } from '../../queue/producer.js';

declare module 'fastify' {
  interface FastifyInstance {
    /** the producer connection: request-path calls fail at once while Redis is away (no offline queue) */
    redis: Redis;
    queue: JobQueue;
    queueEvents: Record<JobKindName, Record<Lane, QueueEvents>>;
  }
}

export default fp(
  async function queue(app: FastifyInstance) {
    const { REDIS_URL, QUEUE_PREFIX, JOB_ATTEMPTS } = app.config;
    // Redis errors repeat every reconnect attempt: log the first of each kind per minute
    let lastLogged = 0;
    const onRedisError = (err: Error) => {
      if (Date.now() - lastLogged > 60_000) app.log.warn({ err: err.message }, 'redis connection error');
      lastLogged = Date.now();
    };
    const redis = redisConnection(REDIS_URL, 'producer');
    redis.on('error', onRedisError);
    const unwatch = watchProducer(redis);
    const lanes = laneQueues(redis, QUEUE_PREFIX);
    for (const q of allQueues(lanes)) q.on('error', onRedisError);
    const events = laneEvents(REDIS_URL, QUEUE_PREFIX, onRedisError);
    // every open event stream listens for progress (at most EVENT_STREAMS_MAX of them): not a leak
    for (const kind of JOB_KINDS) for (const lane of LANES) events[kind][lane].setMaxListeners(app.config.EVENT_STREAMS_MAX + 16);
    app.decorate('redis', redis);
    app.decorate('queue', new JobQueue(lanes, redis, JOB_ATTEMPTS));
    app.decorate('queueEvents', events);
    app.addHook('onClose', async () => {
      unwatch();
      const allEvents = JOB_KINDS.flatMap((kind) => LANES.map((lane) => events[kind][lane]));
      await Promise.all([...allEvents.map((e) => e.close()), ...allQueues(lanes).map((q) => q.close())]);
      redis.disconnect();
    });
  },
  { name: 'queue' },
);
