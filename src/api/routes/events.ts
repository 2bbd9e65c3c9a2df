/**
 * GET /v1/jobs/:id/events: Server-Sent Events for one job. Progress comes
 * from BullMQ's QueueEvents (any worker, any machine); status changes and new
 * metric rows from Postgres. Metric events carry the last row's id: a client
 * that reconnects with Last-Event-ID gets only the rows after it. The stream
 * ends after the job's final status, once every row is sent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id } from '../schemas.js';
import { jobDto, metricDto } from '../dto.js';
import { FINAL_STATUSES } from '../../store/lifecycle.js';
import { visibleTo } from '../tenancy.js';
import { lanesOf } from '../../queue/queues.js';
import { lastEventId } from '../event-stream.js';

const METRICS_PER_EVENT = 500;

const events: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/jobs/:id/events',
    {
      schema: {
        tags: ['jobs'],
        description:
          'Server-Sent Events: status (the job), progress (step, loss, accuracy, chance, images/s), metrics (new rows; the event id ' +
          'is the last row’s, send it back as Last-Event-ID to resume), end. Keep-alive comments while quiet.',
        params: Type.Object({ id: Id }),
        response: {
          200: Type.String({ description: 'text/event-stream: events status, progress, metrics, end' }),
          404: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      const job = await app.jobs.get(req.params.id, visibleTo(req));
      const stream = app.eventStreams.open(req, reply);
      let lastStatus = job.status;
      let lastMetricId = lastEventId(req) ?? 0n;
      stream.send('status', jobDto(job));

      // (from every lane the job may run in)
      const queueEvents = lanesOf(job.device).map((lane) => app.queueEvents[job.kind][lane]);
      const onProgress = ({ jobId, data }: { jobId: string; data: unknown }) => {
        if (jobId === job.id) stream.send('progress', data);
      };
      for (const e of queueEvents) e.on('progress', onProgress);

      const poll = async () => {
        const fresh = await app.jobs.reload(job.id).catch(() => null);
        // every row up to now: a final job's stream ends only after its last row
        for (;;) {
          const metrics = await app.jobs.metricsAfter(job.id, lastMetricId, METRICS_PER_EVENT);
          if (stream.closed || !metrics.length) break;
          lastMetricId = metrics[metrics.length - 1].id;
          stream.send('metrics', metrics.map(metricDto), String(lastMetricId));
          if (metrics.length < METRICS_PER_EVENT) break;
        }
        if (stream.closed || !fresh) return;
        if (fresh.status !== lastStatus) {
          lastStatus = fresh.status;
          stream.send('status', jobDto(fresh));
        }
        if (FINAL_STATUSES.includes(fresh.status)) {
          stream.send('end', { status: fresh.status });
          stream.close();
        }
      };
      const timer = setInterval(() => void poll().catch((err) => req.log.warn({ err }, 'event poll failed')), 500);
      stream.onClose(() => {
        clearInterval(timer);
        for (const e of queueEvents) e.off('progress', onProgress);
      });
      await poll().catch((err) => req.log.warn({ err }, 'event poll failed'));
    },
  );
};

export default events;
