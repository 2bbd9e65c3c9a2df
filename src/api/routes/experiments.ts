import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  Comparison,
  Deleted,
  ErrorBody,
  Experiment,
  ExperimentCreate,
  ExperimentDetail,
  Page,
  Pagination,
  Sweep,
  SweepCreate,
  Uuid,
} from '../schemas.js';
import { experimentDto, jobDto } from '../dto.js';
import { ownerOf, visibleTo } from '../tenancy.js';
import { compare, DEFAULT_RANKING } from '../compare.js';
import { JOBS_COMPARED } from '../../store/experiments.js';
import { sweepPoints } from '../sweeps.js';
import { whileHoldingKey } from '../idempotency.js';
import { HttpError } from '../plugins/errors.js';
import { stableHash } from '../../lib/hash.js';
import { ExperimentFeed } from '../live/experiment-feed.js';
import { finishDeletion } from '../deletions.js';
import type { Scope } from '../../store/scope.js';

const experiments: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/experiments',
    { schema: { tags: ['experiments'], body: ExperimentCreate, response: { 201: Experiment, 400: ErrorBody, 409: ErrorBody } } },
    async (req, reply) => {
      const e = await app.experiments.create(ownerOf(req), req.body.name, req.body.description ?? '');
      return reply.status(201).send(experimentDto(e));
    },
  );

  app.get(
    '/v1/experiments',
    { schema: { tags: ['experiments'], querystring: Pagination, response: { 200: Page(Experiment) } } },
    async (req) => {
      const page = { limit: req.query.limit ?? 50, offset: req.query.offset ?? 0 };
      const { items, total } = await app.experiments.list(page, visibleTo(req));
      return { items: items.map(experimentDto), total, ...page };
    },
  );

  const ExperimentParams = Type.Object({ id: Uuid });

  /** the experiment as GET /v1/experiments/:id answers (and its event stream sends) */
  const detailOf = async (id: string, scope: Scope) => {
    const { experiment, summary, jobs } = await app.experiments.detail(id, scope);
    return {
      ...experimentDto(experiment),
      ...summary,
      startedAt: summary.startedAt?.toISOString() ?? null,
      finishedAt: summary.finishedAt?.toISOString() ?? null,
      jobs: jobs.map(({ job, latest, best }) => ({ ...jobDto(job), latestMetrics: latest, bestMetrics: best })),
    };
  };

  app.get(
    '/v1/experiments/:id',
    { schema: { tags: ['experiments'], params: ExperimentParams, response: { 200: ExperimentDetail, 404: ErrorBody } } },
    async (req) => detailOf(req.params.id, visibleTo(req)),
  );

  app.get(
    '/v1/experiments/:id/events',
    {
      schema: {
        tags: ['experiments'],
        description:
          'Server-Sent Events: `experiment` (the body GET /v1/experiments/:id answers) at once and whenever it changes (a job added, ' +
          'started, stepped or ended); `end` if the experiment is deleted. It stays open while its jobs are final (a sweep may add more): ' +
          'close it when done. Keep-alive comments while quiet.',
        params: ExperimentParams,
        response: { 200: Type.String({ description: 'text/event-stream: events experiment, end' }), 404: ErrorBody, 429: ErrorBody },
      },
    },
    async (req, reply) => {
      const scope = visibleTo(req);
      const experiment = await app.experiments.get(req.params.id, scope);
      const stream = app.eventStreams.open(req, reply);
      if (stream.closed) return;
      const feed = app.live.experiments.of(
        `${scope.ownerId ?? '*'}:${experiment.id}`,
        () => new ExperimentFeed(experiment.id, () => detailOf(experiment.id, scope), app.live.listener, app.live.experimentOptions),
      );
      feed.join({ stream });
    },
  );

  app.delete(
    '/v1/experiments/:id',
    {
      schema: {
        tags: ['experiments'],
        description:
          'Delete an experiment with all its jobs (and their probes, metrics, logs, artifacts and files), all or nothing: 409 while ' +
          'one of them is queued or running, or is a registered model version; the answer names each.',
        params: ExperimentParams,
        response: { 200: Deleted, 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req) => finishDeletion(app, await app.deletion.deleteExperiment(req.params.id, visibleTo(req)), req.log),
  );

  app.get(
    '/v1/experiments/:id/compare',
    {
      schema: {
        tags: ['experiments'],
        params: ExperimentParams,
        querystring: Type.Object(
          {
            metric: Type.Optional(
              Type.String({
                maxLength: 200,
                pattern: '^(train|train_epoch|valid|test|probe)/[A-Za-z0-9_]+$',
                description: `rank by this <split>/<name> or probe/<name> (default: the first of ${DEFAULT_RANKING.join(', ')} that a job has)`,
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: Comparison, 404: ErrorBody },
      },
    },
    async (req) => {
      const { jobs, summary } = await app.experiments.detail(req.params.id, visibleTo(req), JOBS_COMPARED);
      return { ...compare(jobs, req.query.metric), truncated: summary.jobCount > jobs.length };
    },
  );

  app.post(
    '/v1/experiments/:id/sweeps',
    {
      schema: {
        tags: ['experiments'],
        params: ExperimentParams,
        headers: Type.Object({ 'idempotency-key': Type.Optional(Type.String({ minLength: 1, maxLength: 190 })) }),
        body: SweepCreate,
        response: { 202: Sweep, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody, 503: ErrorBody },
      },
    },
    async (req, reply) => {
      const experiment = await app.experiments.get(req.params.id, visibleTo(req));
      const { base = {}, grid, random, maxJobs = 20, probe } = req.body;
      const points = sweepPoints({ grid, random, maxJobs });
      const key = req.headers['idempotency-key'];
      // the same key with another sweep is refused, as POST /v1/jobs refuses another body (the key's lock
      // keeps two requests with the key from passing this check together)
      const bodyKey = `${app.config.QUEUE_PREFIX}:sweep-body:${ownerOf(req)}:${experiment.id}:${key}`;
      const bodyHash = stableHash(req.body);
      return whileHoldingKey(app.redis, app.config.QUEUE_PREFIX, key && `${ownerOf(req)}:sweep:${key}`, async () => {
        if (key && ((await app.redis.get(bodyKey)) ?? bodyHash) !== bodyHash)
          throw new HttpError(422, 'this Idempotency-Key was used with a different sweep', undefined, { code: 'idempotency_key_reused' });
        const submitted = await app.jobService.submitSweep({ kind: 'cpc', ...base, experimentId: experiment.id, probe }, points, {
          ownerId: ownerOf(req),
          scope: visibleTo(req),
          idempotencyKey: key,
        });
        if (key) await app.redis.set(bodyKey, bodyHash, 'PX', app.config.IDEMPOTENCY_TTL_MS);
        return reply
          .status(202)
          .send({ experimentId: experiment.id, points: submitted.map(({ point, job }) => ({ values: point, jobId: job.id })) });
      });
    },
  );
};

export default experiments;
