/**
 * GET /v1/jobs/:id/events: Server-Sent Events for one job. Progress comes
 * from BullMQ's QueueEvents (any worker, any machine); status changes and new
 * metric rows from Postgres. The stream ends after the job's final status.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id } from '../schemas.js';
import { HttpError } from '../plugins/errors.js';
import { jobDto, metricDto } from '../dto.js';
import { FINAL_STATUSES } from '../../store/lifecycle.js';
import { InFlightLimit, clientOf } from '../in-flight.js';
import { visibleTo } from '../tenancy.js';
import { lanesOf } from '../../queue/queues.js';

const events: FastifyPluginAsyncTypebox = async (app) => {
  // each open stream polls Postgres: a client may hold a few, the process a bounded number
  const streams = new InFlightLimit(app.config.EVENT_STREAMS_PER_KEY, app.config.EVENT_STREAMS_MAX);
  app.get(
    '/v1/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        params: Type.Object({ id: Id }),
        response: { 200: Type.String({ description: 'text/event-stream: events status, progress, metrics, end' }), 404: ErrorBody },
      },
    },
    async (req, reply) => {
      const job = await app.jobs.get(req.params.id, visibleTo(req));
      const release = streams.enter(clientOf(req));
      if (!release)
        throw new HttpError(
          429,
          `too many open event streams (at most ${streams.perClient} per API key and ${streams.overall} in all); close one first`,
        );
      reply.hijack();
      const res = reply.raw;
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-request-id': req.id,
      });
      const send = (event: string, data: unknown) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
      let lastStatus = job.status;
      let lastMetricId = 0n;
      let closed = false;
      send('status', jobDto(job));

      // (from every lane the job may run in)
      const queueEvents = lanesOf(job.device).map((lane) => app.queueEvents[job.kind][lane]);
      const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
        if (jobId === job.id) send('progress', data);
      };
      for (const e of queueEvents) e.on('progress', onProgress);

      const finishStream = () => {
        if (closed) return;
        closed = true;
        release();
        clearInterval(timer);
        clearInterval(keepAlive);
        for (const e of queueEvents) e.off('progress', onProgress);
        res.end();
      };
      const poll = async () => {
        const [fresh, metrics] = await Promise.all([
          app.jobs.reload(job.id).catch(() => null),
          app.jobs.metricsAfter(job.id, lastMetricId, 500),
        ]);
        if (closed || !fresh) return;
        if (metrics.length) {
          lastMetricId = metrics[metrics.length - 1].id;
          send('metrics', metrics.map(metricDto));
        }
        if (fresh.status !== lastStatus) {
          lastStatus = fresh.status;
          send('status', jobDto(fresh));
        }
        if (FINAL_STATUSES.includes(fresh.status)) {
          send('end', { status: fresh.status });
          finishStream();
        }
      };
      const timer = setInterval(() => void poll().catch((err) => req.log.warn({ err }, 'event poll failed')), 500);
      // an SSE comment now and then keeps a quiet stream (a long epoch) open through proxies that close idle connections
      const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), app.config.EVENT_STREAM_KEEPALIVE_MS);
      // (the response's close: it fires when the connection goes, and a client that left while the job
      // was being looked up is gone already, so its slot and timers are given back at once)
      res.on('close', finishStream);
      if (res.destroyed || req.raw.socket?.destroyed) finishStream();
      await poll();
    },
  );
};

export default events;
