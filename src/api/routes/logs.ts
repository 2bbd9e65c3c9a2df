/**
 * GET /v1/jobs/:id/logs: every attempt's log lines, as the workers wrote them
 * (src/worker/job-log.ts). Plain text (one line each: time, attempt, level,
 * message), JSON lines (?format=jsonl), or followed over Server-Sent Events
 * (?follow=true: each line an event whose id resumes with Last-Event-ID; the
 * stream ends with the job, once its last line is sent). `after` skips to the
 * lines after the one with that id.
 */
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Id } from '../schemas.js';
import { visibleTo } from '../tenancy.js';
import { lastEventId } from '../event-stream.js';
import { HttpError } from '../plugins/errors.js';
import type { JobLogLine } from '../../generated/prisma/client.js';
import { JobFeed } from '../live/job-feed.js';

/** the most lines one answer carries (a job keeps at most LOG_LINES_PER_ATTEMPT per attempt) */
const LINES_PER_ANSWER = 20_000;

const lineDto = (l: JobLogLine) => ({
  id: String(l.id),
  attempt: l.attempt,
  time: l.time.toISOString(),
  level: l.level,
  message: l.message,
});
const textLine = (l: JobLogLine) =>
  `${l.time.toISOString()} #${l.attempt} ${l.level.toUpperCase().padEnd(5)} ${l.message.replaceAll('\n', '\n    ')}\n`;

const logs: FastifyPluginAsyncTypebox = async (app) => {
  app.get(
    '/v1/jobs/:id/logs',
    {
      schema: {
        tags: ['jobs'],
        description:
          'The job’s log: each attempt’s lines (bounded per attempt; a last line says how many were dropped). text/plain by default; ' +
          '?format=jsonl for JSON lines ({id, attempt, time, level, message}); ?follow=true for Server-Sent Events (`log` per line, ' +
          'id resumable with Last-Event-ID; `end` after the job’s last line). X-Next-After names the last line sent when more follow.',
        params: Type.Object({ id: Id }),
        querystring: Type.Object(
          {
            format: Type.Optional(Type.Union([Type.Literal('text'), Type.Literal('jsonl')], { description: 'text (default) or jsonl' })),
            follow: Type.Optional(Type.Boolean({ description: 'stream new lines as Server-Sent Events until the job ends' })),
            after: Type.Optional(Type.String({ pattern: '^[0-9]{1,18}$', description: 'only the lines after the one with this id' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.String({ description: 'text/plain, application/x-ndjson, or text/event-stream (follow)' }),
          400: ErrorBody,
          404: ErrorBody,
          429: ErrorBody,
        },
      },
    },
    async (req, reply) => {
      if (req.query.follow && req.query.format)
        throw new HttpError(400, 'format is for a log read at once; a followed log is Server-Sent Events (one JSON `log` event per line)');
      const job = await app.jobs.get(req.params.id, visibleTo(req));
      const after = req.query.after !== undefined ? BigInt(req.query.after) : 0n;
      if (!req.query.follow) {
        const lines = await app.jobs.logLinesAfter(job.id, after, LINES_PER_ANSWER + 1);
        const more = lines.length > LINES_PER_ANSWER;
        const sent = lines.slice(0, LINES_PER_ANSWER);
        if (more) reply.header('x-next-after', String(sent[sent.length - 1].id));
        if (req.query.format === 'jsonl')
          return reply.type('application/x-ndjson; charset=utf-8').send(sent.map((l) => `${JSON.stringify(lineDto(l))}\n`).join(''));
        return reply.type('text/plain; charset=utf-8').send(sent.map(textLine).join(''));
      }

      const stream = app.eventStreams.open(req, reply);
      if (stream.closed) return;
      const feed = app.live.jobLogs.of(
        job.id,
        () =>
          new JobFeed(
            job,
            {
              payloads: ['logs', 'status'],
              rowsAfter: (jobId, from, take) => app.jobs.logLinesAfter(jobId, from, take),
              newestId: (jobId) => app.jobs.newestLogLineId(jobId),
              sendRows: (sub, lines) => {
                for (const l of lines) sub.stream.send('log', lineDto(l), String(l.id));
              },
              reload: (jobId) => app.jobs.reload(jobId),
            },
            app.live.listener,
            app.live.jobOptions,
          ),
      );
      feed.join({ stream, after: lastEventId(req) ?? after });
    },
  );
};

export default logs;
