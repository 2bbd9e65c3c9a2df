import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type, type Static } from 'typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { lockIdempotencyKey } from '../idempotency.js';
import { ErrorBody, Id, Job, JobCreate, JobDetail, JobStatus, Metric, Offset, Page, Uuid } from '../schemas.js';
import { artifactDto, jobDto, metricDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { resolveConfig, stepsPerEpoch, ConfigError, type CpcConfigInput } from '../../cpc/config.js';
import { createJob, finish, IdempotencyConflict, FINAL_STATUSES, type NewJob } from '../../store/jobs.js';
import { DEFAULT_PROBE, checkProbeSize } from '../../cpc/probe.js';
import { enqueue, locate, removeFromLanes, type JobRef, type LaneQueues } from '../../queue/queues.js';
import { withTimeout } from '../timeout.js';
import { ownerOf, visibleTo } from '../tenancy.js';

/** the vendored MNIST training split; jobs train on it */
const TRAIN_IMAGES = 50_000;

const JobParams = Type.Object({ id: Id });

/** How long a submission waits for Redis before answering 503 (the enqueue itself stays pending). */
const ENQUEUE_TIMEOUT_MS = 3000;

/** A Redis call that answers 503 instead of waiting for Redis to come back. */
async function redisCall<T>(call: Promise<T>, hint = 'try again shortly', details: object = {}): Promise<T> {
  try {
    return await withTimeout(call, ENQUEUE_TIMEOUT_MS);
  } catch (err) {
    throw new HttpError(503, `the job queue (Redis) is unavailable; ${hint}`, Object.keys(details).length ? details : undefined);
  }
}

/** How long a retry waits for the job's last attempt to leave BullMQ's `active` state. */
const RETRY_WAIT_MS = 5000;

/** true once the job is not active in BullMQ (or not there at all), false if it still is after `waitMs` */
async function leavesActive(queues: LaneQueues, job: JobRef, waitMs: number, hint: string): Promise<boolean> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const found = await redisCall(locate(queues, job), hint);
    if (found?.state !== 'active') return true;
    if (Date.now() >= deadline) return false;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const jobs: FastifyPluginAsyncTypebox = async (app) => {
  async function submitJob(req: FastifyRequest, body: Static<typeof JobCreate>, key: string | undefined, reply: FastifyReply) {
    if (body.experimentId && !(await app.db.experiment.findFirst({ where: { id: body.experimentId, ...visibleTo(req) } }))) {
      throw new HttpError(404, `no experiment ${body.experimentId}`);
    }
    const common = {
      ownerId: ownerOf(req),
      experimentId: body.experimentId,
      priority: body.priority ?? 50,
      device: body.device ?? 'any',
      idempotencyKey: key,
    };
    let input: NewJob;
    if (body.kind === 'cpc') {
      let config;
      try {
        config = resolveConfig((body.config ?? {}) as CpcConfigInput);
      } catch (err) {
        if (err instanceof ConfigError) throw new HttpError(400, err.message);
        throw err;
      }
      const { dataDir: _ignored, ...stored } = config;
      input = {
        ...common,
        kind: 'cpc',
        config: stored,
        seed: config.seed,
        totalSteps: stepsPerEpoch(config, TRAIN_IMAGES) * config.epochs,
      };
    } else {
      const parent = await app.db.job.findFirst({ where: { id: body.cpcJobId, ...visibleTo(req) } });
      if (!parent) throw new HttpError(404, `no job ${body.cpcJobId}`);
      if (parent.kind !== 'cpc') throw new HttpError(422, `job ${parent.id} is a ${parent.kind} job, not a CPC job`);
      if (parent.status !== 'succeeded')
        throw new HttpError(409, `CPC job ${parent.id} is ${parent.status}; a probe needs a succeeded CPC job`);
      const { leakyAlpha: _fromTheEncoder, ...probeDefaults } = DEFAULT_PROBE;
      const config = { ...probeDefaults, seed: parent.seed, ...(body.config ?? {}) };
      try {
        checkProbeSize(config, (parent.config as { imageSize: number }).imageSize);
      } catch (err) {
        if (err instanceof ConfigError) throw new HttpError(400, err.message);
        throw err;
      }
      input = { ...common, kind: 'probe', config, seed: config.seed, parentJobId: parent.id, totalSteps: 0 };
    }
    let result;
    try {
      result = await createJob(app.db, input, app.config.IDEMPOTENCY_TTL_MS);
    } catch (err) {
      if (err instanceof IdempotencyConflict) throw new HttpError(422, err.message);
      throw err;
    }
    // (re-)enqueue every queued job: a replay with the same Idempotency-Key also repairs a job whose
    // first enqueue did not get through (unless some lane holds it: a GPU worker may have moved it)
    if (result.job.status === 'queued') {
      const job = result.job;
      await redisCall(
        (async () =>
          (result.created || !(await locate(app.queues.queues, job))) &&
          (await enqueue(app.queues.queues, job, app.config.JOB_ATTEMPTS)))(),
        'the job is recorded and will be queued when Redis is back (repeat the request with the same Idempotency-Key to make sure)',
        { jobId: result.job.id },
      );
    }
    return reply.status(202).send(jobDto(result.job));
  }

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
      // keys are per owner: two clients that both send "1" do not collide
      const lock = key ? await lockIdempotencyKey(app.redis, app.config.QUEUE_PREFIX, `${ownerOf(req)}:${key}`) : null;
      if (lock === 'busy')
        throw new HttpError(409, 'a request with this Idempotency-Key is still in progress; repeat it once that one has been answered');
      try {
        return await submitJob(req, req.body, key, reply);
      } finally {
        await lock?.release();
      }
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
      const limit = req.query.limit ?? 50;
      const offset = req.query.offset ?? 0;
      const where = {
        ...visibleTo(req),
        ...(status ? { status } : {}),
        ...(kind ? { kind } : {}),
        ...(experimentId ? { experimentId } : {}),
      };
      const [items, total] = await Promise.all([
        app.db.job.findMany({ where, orderBy: { createdAt: 'desc' }, take: limit, skip: offset }),
        app.db.job.count({ where }),
      ]);
      return { items: items.map(jobDto), total, limit, offset };
    },
  );

  app.get('/v1/jobs/:id', { schema: { tags: ['jobs'], params: JobParams, response: { 200: JobDetail, 404: ErrorBody } } }, async (req) => {
    const job = await app.db.job.findFirst({
      where: { id: req.params.id, ...visibleTo(req) },
      include: { artifacts: { orderBy: { createdAt: 'asc' } } },
    });
    if (!job) throw new HttpError(404, `no job ${req.params.id}`);
    // the latest value of every (split, name) series
    const latest = await app.db.metricPoint.findMany({
      where: { jobId: job.id },
      orderBy: [{ split: 'asc' }, { name: 'asc' }, { step: 'desc' }],
      distinct: ['split', 'name'],
    });
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
          },
          { additionalProperties: false },
        ),
        response: { 200: Type.Object({ items: Type.Array(Metric) }), 404: ErrorBody },
      },
    },
    async (req) => {
      if (!(await app.db.job.findFirst({ where: { id: req.params.id, ...visibleTo(req) }, select: { id: true } })))
        throw new HttpError(404, `no job ${req.params.id}`);
      const items = await app.db.metricPoint.findMany({
        where: {
          jobId: req.params.id,
          ...(req.query.name ? { name: req.query.name } : {}),
          ...(req.query.split ? { split: req.query.split } : {}),
        },
        orderBy: [{ step: 'asc' }, { split: 'asc' }, { name: 'asc' }],
        take: req.query.limit ?? 1000,
      });
      return { items: items.map(metricDto) };
    },
  );

  app.post(
    '/v1/jobs/:id/cancel',
    { schema: { tags: ['jobs'], params: JobParams, response: { 202: Job, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } } },
    async (req, reply) => {
      const job = await app.db.job.findFirst({ where: { id: req.params.id, ...visibleTo(req) } });
      if (!job) throw new HttpError(404, `no job ${req.params.id}`);
      if (FINAL_STATUSES.includes(job.status)) throw new HttpError(409, `job ${job.id} is already ${job.status}`);
      await app.db.job.update({ where: { id: job.id }, data: { cancelRequested: true } });
      // a job still waiting in the queue is taken out and ends here; a running one is stopped by its worker
      const hint = 'the cancel request is recorded, and a worker (or the reaper) ends the job when it next sees it';
      const queued = await redisCall(locate(app.queues.queues, job), hint);
      // (a job a worker takes meanwhile is locked, so remove fails and that worker sees the flag instead;
      // one a GPU worker claims meanwhile is gone from this lane, and the worker sees the flag)
      const removed =
        queued &&
        ['waiting', 'delayed', 'prioritized', 'waiting-children'].includes(queued.state) &&
        (await queued.job.remove().then(
          () => true,
          () => false,
        ));
      // a queued row with no queue entry at all (its enqueue never reached Redis) ends here too
      if (removed || (!queued && job.status === 'queued')) {
        await finish(app.db, job.id, 'cancelled');
        // a retry that enqueued between our look and the write above left an entry: it goes too
        // (one a worker took meanwhile is locked; that worker's lease is refused and it ends)
        await removeFromLanes(app.queues.queues, job).catch(() => undefined);
      }
      const fresh = await app.db.job.findUniqueOrThrow({ where: { id: job.id } });
      return reply.status(202).send(jobDto(fresh));
    },
  );

  app.post(
    '/v1/jobs/:id/retry',
    { schema: { tags: ['jobs'], params: JobParams, response: { 202: Job, 404: ErrorBody, 409: ErrorBody, 503: ErrorBody } } },
    async (req, reply) => {
      const job = await app.db.job.findFirst({ where: { id: req.params.id, ...visibleTo(req) } });
      if (!job) throw new HttpError(404, `no job ${req.params.id}`);
      if (job.status !== 'failed' && job.status !== 'cancelled')
        throw new HttpError(409, `job ${job.id} is ${job.status}; only failed or cancelled jobs can be retried`);
      // An attempt records its outcome in Postgres before BullMQ moves the job out of `active`; while
      // it is still active BullMQ can neither remove it nor take it again (the add would be a no-op and
      // the job would stay queued for ever), so wait for the worker to let go first.
      if (!(await leavesActive(app.queues.queues, job, RETRY_WAIT_MS, 'nothing was changed; try again shortly'))) {
        throw new HttpError(409, `job ${job.id}'s last attempt is still ending on its worker; try again in a few seconds`);
      }
      const claimed = await app.db.job.updateMany({
        where: { id: job.id, status: job.status },
        data: { status: 'queued', cancelRequested: false, error: null, finishedAt: null },
      });
      if (claimed.count !== 1) throw new HttpError(409, `job ${job.id} changed while retrying; try again`);
      const requeued = await app.db.job.findUniqueOrThrow({ where: { id: job.id } });
      await redisCall(
        (async () => {
          // the last attempt's entries (in each lane an `any` job may have run in) make way for the new one
          await removeFromLanes(app.queues.queues, job);
          // a retried training job resumes from its last checkpoint
          await enqueue(app.queues.queues, job, app.config.JOB_ATTEMPTS);
          // a cancel between the row's update and this enqueue found no entry to remove and ended the
          // job: take the entry out again (one a worker took meanwhile is refused by the lease and ends)
          const now = await app.db.job.findUnique({ where: { id: job.id }, select: { status: true } });
          if (now?.status !== 'queued') await removeFromLanes(app.queues.queues, job).catch(() => undefined);
        })(),
        'the job is queued again in Postgres; the reaper enqueues it when Redis is back',
      );
      return reply.status(202).send(jobDto(requeued));
    },
  );
};

export default jobs;
