import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { whileHoldingKey } from '../idempotency.js';
import { Deleted, ErrorBody, Id, Job, JobCreate, JobDetail, JobStatus, Metric, Offset, Page, Uuid } from '../schemas.js';
import { artifactDto, jobDto, metricDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { SWEEP_KEY_PREFIX } from '../job-service.js';
import type { MetricPosition } from '../../store/jobs.js';
import { ownerOf, visibleTo } from '../tenancy.js';
import { finishDeletion } from '../deletions.js';

const JobParams = Type.Object({ id: Id });

/** a page's end as an opaque token: base64url of [step, split, name] */
const encodeCursor = (m: MetricPosition) => Buffer.from(JSON.stringify([m.step, m.split, m.name])).toString('base64url');

function decodeCursor(cursor: string): MetricPosition {
  try {
    const [step, split, name] = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')) as unknown[];
    const text = (v: unknown) => typeof v === 'string' && v.length <= 100 && !v.includes('\u0000');
    if (Number.isInteger(step) && (step as number) >= 0 && (step as number) <= 2 ** 31 - 1 && text(split) && text(name))
      return { step: step as number, split: split as string, name: name as string };
  } catch {
    // said below
  }
  throw new HttpError(400, "querystring/cursor is not a cursor this API gave (use a page's nextCursor as it is)");
}

const jobs: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/jobs',
    {
      schema: {
        tags: ['jobs'],
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 200 })) }),
        body: JobCreate,
        response: { 202: Job, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const key = req.headers['idempotency-key'];
      if (key?.startsWith(SWEEP_KEY_PREFIX))
        throw new HttpError(400, `Idempotency-Keys starting with "${SWEEP_KEY_PREFIX}" are reserved for the points of sweeps`);
      // keys are per owner: two clients that both send "1" do not collide
      return whileHoldingKey(app.redis, app.config.QUEUE_PREFIX, key && `${ownerOf(req)}:${key}`, async () => {
        const job = await app.jobService.submit(req.body, { ownerId: ownerOf(req), scope: visibleTo(req), idempotencyKey: key });
        return reply.status(202).send(jobDto(job));
      });
    },
  );

  app.get(
    '/v1/jobs',
    {
      schema: {
        tags: ['jobs'],
        querystring: Type.Object(
          {
            status: Type.Optional(JobStatus),
            kind: Type.Optional(Type.Union([Type.Literal('cpc'), Type.Literal('probe')])),
            experimentId: Type.Optional(Uuid),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
            offset: Type.Optional(Offset),
          },
          { additionalProperties: false },
        ),
        response: { 200: Page(Job) },
      },
    },
    async (req) => {
      const { status, kind, experimentId } = req.query;
      const page = { limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
      const { items, total } = await app.jobs.list({ status, kind, experimentId }, page, visibleTo(req));
      return { items: items.map(jobDto), total, ...page };
    },
  );

  app.get('/v1/jobs/:id', { schema: { tags: ['jobs'], params: JobParams, response: { 200: JobDetail, 404: ErrorBody } } }, async (req) => {
    const job = await app.jobs.getWithArtifacts(req.params.id, visibleTo(req));
    const latest = await app.jobs.latestMetrics(job.id);
    return { ...jobDto(job), latestMetrics: latest.map(metricDto), artifacts: job.artifacts.map(artifactDto) };
  });

  app.get(
    '/v1/jobs/:id/metrics',
    {
      schema: {
        tags: ['jobs'],
        params: JobParams,
        querystring: Type.Object(
          {
            name: Type.Optional(Type.String({ maxLength: 100 })),
            split: Type.Optional(Type.String({ maxLength: 100 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 10000, default: 1000 })),
            cursor: Type.Optional(Type.String({ maxLength: 400, description: "the previous page's nextCursor" })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: Type.Object({
            items: Type.Array(Metric),
            nextCursor: Type.Union([Type.String(), Type.Null()], {
              description: 'more rows follow: pass it as ?cursor= (with the same name and split) for the next page; null on the last page',
            }),
          }),
          400: ErrorBody,
          404: ErrorBody,
        },
      },
    },
    async (req) => {
      const { name, split, cursor } = req.query;
      const after = cursor === undefined ? undefined : decodeCursor(cursor);
      const page = await app.jobs.metrics(req.params.id, visibleTo(req), { name, split, limit: req.query.limit ?? 1000, after });
      const last = page.items.at(-1);
      return { items: page.items.map(metricDto), nextCursor: page.more && last ? encodeCursor(last) : null };
    },
  );

  app.delete(
    '/v1/jobs/:id',
    {
      schema: {
        tags: ['jobs'],
        description:
          'Delete a job in a final state, with its metrics, log, artifacts (and their files) and its probe jobs (a probe is nothing ' +
          'without its CPC job’s encoder). 409 while one of them is queued or running (cancel it first), or is a registered model ' +
          'version (delete the version first); the answer names each. All or nothing.',
        params: JobParams,
        response: { 200: Deleted, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => finishDeletion(app, await app.deletion.deleteJob(req.params.id, visibleTo(req)), req.log),
  );

  // the two actions on a job: cancel (queued ones end at once, running ones at their next heartbeat) and retry
  for (const action of ['cancel', 'retry'] as const) {
    app.post(
      `/v1/jobs/:id/${action}`,
      { schema: { tags: ['jobs'], params: JobParams, response: { 202: Job, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } } },
      async (req, reply) => reply.status(202).send(jobDto(await app.jobService[action](req.params.id, visibleTo(req)))),
    );
  }
};

export default jobs;
