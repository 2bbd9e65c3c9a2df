/**
 * GET /v1/jobs/:id/events: Server-Sent Events for one job. Progress comes
 * from BullMQ's QueueEvents (any worker, any machine); status changes and new
 * metric rows from Postgres, read once per change for every client of this
 * process (the job's live feed, src/api/live). Metric events carry the last
 * row's id: a client that reconnects with Last-Event-ID gets only the rows
 * after it. The stream ends after the job's final status, once every row is sent.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id } from '../schemas.js';
import { jobDto, metricDto } from '../dto.js';
import { visibleTo } from '../tenancy.js';
import { lanesOf } from '../../queue/queues.js';
import { lastEventId } from '../event-stream.js';
import { JobFeed } from '../live/job-feed.js';

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
      if (stream.closed) return;
      // one feed per job in this process, shared by every client streaming it (src/api/live)
      const feed = app.live.jobEvents.of(
        job.id,
        () =>
          new JobFeed(
            job,
            {
              payloads: ['metrics', 'status'],
              rowsAfter: (jobId, after, take) => app.jobs.metricsAfter(jobId, after, take),
              newestId: (jobId) => app.jobs.newestMetricId(jobId),
              sendRows: (sub, rows) => sub.stream.send('metrics', rows.map(metricDto), String(rows[rows.length - 1].id)),
              reload: (jobId) => app.jobs.reload(jobId),
              sendStatus: (sub, row) => sub.stream.send('status', jobDto(row)),
            },
            app.live.listener,
            app.live.jobOptions,
            // (from every lane the job may run in)
            lanesOf(job.device).map((lane) => app.queueEvents[job.kind][lane]),
          ),
      );
      feed.join({ stream, after: lastEventId(req) ?? 0n });
    },
  );
};

export default events;
