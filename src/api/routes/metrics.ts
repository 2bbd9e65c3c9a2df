/** GET /metrics: Prometheus exposition (prom-client): queue depth, jobs by status, request latency, live tensors, process memory. */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { Registry, Histogram, Gauge, collectDefaultMetrics } from 'prom-client';
import fp from 'fastify-plugin';
import { JOB_KINDS, LANES, laneLabel } from '../../queue/queues.js';
import { withTimeout } from '../timeout.js';
import * as tf from '../../cpc/tf.js';

const metrics: FastifyPluginAsyncTypebox = async (app) => {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'cpc_api_' });
  const latency = new Histogram({
    name: 'cpc_http_request_duration_seconds',
    help: 'HTTP request latency',
    labelNames: ['method', 'route', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [registry],
  });
  new Gauge({
    name: 'cpc_queue_jobs',
    help: 'jobs in the BullMQ queues by state',
    labelNames: ['queue', 'state'],
    registers: [registry],
    async collect() {
      // Redis away: leave the series out rather than hang or fail the whole scrape
      this.reset();
      for (const kind of JOB_KINDS) {
        for (const lane of LANES) {
          const counts = await withTimeout(
            app.queue.lanes[kind][lane].getJobCounts('waiting', 'active', 'delayed', 'prioritized', 'failed', 'completed'),
            1000,
          ).catch(() => null);
          for (const [state, n] of Object.entries(counts ?? {})) this.set({ queue: laneLabel(kind, lane), state }, n);
        }
      }
    },
  });
  new Gauge({
    name: 'cpc_tensors',
    help: 'TensorFlow.js tensors alive in this API process and its inference threads, as each thread last reported (flat under steady load; grows only with the model cache)',
    registers: [registry],
    collect() {
      this.set(tf.memory().numTensors + (app.hasDecorator('inference') ? app.inference.tensors() : 0));
    },
  });
  new Gauge({
    name: 'cpc_jobs',
    help: 'jobs in Postgres by kind and status',
    labelNames: ['kind', 'status'],
    registers: [registry],
    async collect() {
      // Postgres away: leave the series out (the rest of the scrape, which says so, still arrives)
      this.reset();
      const groups = await app.jobs.countsByKindAndStatus().catch(() => []);
      for (const g of groups) this.set({ kind: g.kind, status: g.status }, g._count._all);
    },
  });

  new Gauge({
    name: 'cpc_event_streams',
    help: 'Server-Sent Event streams open on this API process',
    registers: [registry],
    collect() {
      this.set(app.hasDecorator('eventStreams') ? app.eventStreams.count : 0);
    },
  });
  new Gauge({
    name: 'cpc_live_feeds',
    help: 'live feeds on this API process by kind (one per streamed job or experiment, shared by its clients)',
    labelNames: ['kind'],
    registers: [registry],
    collect() {
      if (!app.hasDecorator('live')) return;
      this.set({ kind: 'job_events' }, app.live.jobEvents.size);
      this.set({ kind: 'job_logs' }, app.live.jobLogs.size);
      this.set({ kind: 'experiment' }, app.live.experiments.size);
    },
  });
  new Gauge({
    name: 'cpc_change_channels',
    help: 'Postgres notification channels this API process listens to (one per job or experiment with a live feed)',
    registers: [registry],
    collect() {
      this.set(app.hasDecorator('live') ? app.live.listener.channels : 0);
    },
  });

  app.addHook('onResponse', async (req, reply) => {
    latency.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/metrics', { schema: { tags: ['health'], response: { 200: Type.String() } } }, async (_req, reply) => {
    reply.header('content-type', registry.contentType);
    return registry.metrics();
  });
};

// not encapsulated: the latency hook must see every route
export default fp(metrics);
