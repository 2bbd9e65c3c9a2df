import type { FastifyPluginAsyncTypebox, TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import {
  AliasName,
  EmbedRequest,
  EmbedResponse,
  ErrorBody,
  Model,
  ModelMetadata,
  ModelRegister,
  PredictRequest,
  PredictResponse,
  Version,
  VersionRef,
} from '../schemas.js';
import { modelDto, modelMetadataDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { ModelFilesCache } from '../model-cache.js';
import type { InferOptions } from '../inference/protocol.js';
import { BadImageInput, InferenceBusy, InferenceCancelled } from '../inference/pool.js';
import { acceptImageForms } from '../plugins/multipart-images.js';
import { InFlightLimit, clientOf } from '../in-flight.js';
import type { FastifyRequest } from 'fastify';
import { LRUCache } from 'lru-cache';
import type { ModelRow } from '../../store/models.js';
import { ownerOf, visibleTo } from '../tenancy.js';
import { ImageInputError, NoNeighbourIndex, toPixelGrid, type PixelGrid } from '../../cpc/inference.js';

/** a version ref from a path: a number is a version, `latest` the newest (undefined), anything else an alias */
function parseRef(ref: string): number | string | undefined {
  if (ref === 'latest') return undefined;
  if (!/^[0-9]+$/.test(ref)) return ref;
  const version = Number(ref);
  if (version > 2 ** 31 - 1) throw new HttpError(400, `params/ref: a version is at most ${2 ** 31 - 1}`);
  return version;
}

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }) });

/** The request's images as flat arrays (PNG bytes, or pixels), which cross to an inference thread without a copy. */
function toInputs(instances: unknown[]): Array<Uint8Array | PixelGrid> {
  return instances.map((x, i) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const b64 = (x as { png: string }).png;
      if (!/^[A-Za-z0-9+/=\s]*$/.test(b64)) throw new ImageInputError(`instances[${i}].png is not base64`);
      return new Uint8Array(Buffer.from(b64, 'base64'));
    }
    return toPixelGrid(x as number[][] | number[][][], `instances[${i}]`);
  });
}

const models: FastifyPluginAsyncTypebox = async (app) => {
  const files = new ModelFilesCache(app.artifacts, app.artifactStore, app.config.MODEL_CACHE_SIZE);

  app.post(
    '/v1/models',
    { schema: { tags: ['models'], body: ModelRegister, response: { 201: Model, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody } } },
    async (req, reply) => {
      const { name, jobId } = req.body;
      const head = req.body.head ?? 'mlp';
      const job = await app.jobs.get(jobId, visibleTo(req));
      if (job.kind !== 'probe') throw new HttpError(422, `job ${jobId} is a ${job.kind} job; register a succeeded probe job`);
      if (job.status !== 'succeeded')
        throw new HttpError(409, `probe job ${jobId} is ${job.status}`, undefined, { code: 'job_not_succeeded' });
      const report = job.result as {
        cpc?: Record<string, number>;
        randomEncoder?: Record<string, number>;
        rawPixels?: Record<string, number>;
      } | null;
      const metrics = {
        testAccuracy: report?.cpc?.[head] ?? null,
        randomEncoder: report?.randomEncoder?.[head] ?? null,
        rawPixels: report?.rawPixels?.[head] ?? null,
      };
      // model names are the registering owner's
      const m = await app.models.register({ ownerId: ownerOf(req), name, jobId, head, metrics });
      return reply.status(201).send(modelDto(m));
    },
  );

  app.get('/v1/models', { schema: { tags: ['models'], response: { 200: Type.Object({ items: Type.Array(Model) }) } } }, async (req) => {
    const items = await app.models.listLatest(visibleTo(req));
    return { items: items.map(modelDto) };
  });

  const RefParams = Type.Object({ name: NameParams.properties.name, ref: VersionRef });
  const AliasParams = Type.Object({ name: NameParams.properties.name, alias: AliasName });

  app.get(
    '/v1/models/:name/versions',
    { schema: { tags: ['models'], params: NameParams, response: { 200: Type.Object({ items: Type.Array(Model) }), 404: ErrorBody } } },
    async (req) => ({ items: (await app.models.versions(ownerOf(req), req.params.name)).map(modelDto) }),
  );

  app.get(
    '/v1/models/:name/versions/:ref',
    { schema: { tags: ['models'], params: RefParams, response: { 200: Model, 404: ErrorBody } } },
    async (req) => modelDto(await app.models.get(ownerOf(req), req.params.name, parseRef(req.params.ref))),
  );

  app.get(
    '/v1/models/:name/versions/:ref/metadata',
    { schema: { tags: ['models'], params: RefParams, response: { 200: ModelMetadata, 404: ErrorBody } } },
    async (req) => modelMetadataDto(await app.models.get(ownerOf(req), req.params.name, parseRef(req.params.ref))),
  );

  app.put(
    '/v1/models/:name/aliases/:alias',
    {
      schema: {
        tags: ['models'],
        params: AliasParams,
        body: Type.Object({ version: Version }, { additionalProperties: false }),
        response: { 200: Model, 400: ErrorBody, 404: ErrorBody },
      },
    },
    async (req) => {
      const { name, alias } = req.params;
      await app.models.setAlias(ownerOf(req), name, alias, req.body.version);
      // (a served alias is re-read within LATEST_TTL_MS)
      return modelDto(await app.models.get(ownerOf(req), name, req.body.version));
    },
  );

  app.delete(
    '/v1/models/:name/aliases/:alias',
    { schema: { tags: ['models'], params: AliasParams, response: { 204: Type.Null(), 404: ErrorBody } } },
    async (req, reply) => {
      await app.models.removeAlias(ownerOf(req), req.params.name, req.params.alias);
      return reply.status(204).send(null);
    },
  );

  app.delete(
    '/v1/models/:name/versions/:ref',
    {
      schema: {
        tags: ['models'],
        description:
          'Delete one version (not an alias: 409 while one points at it, move or remove it first). The probe job it was made from, ' +
          'and its files, stay (DELETE the job to remove them). Other API processes stop serving it within 3 s.',
        params: Type.Object({
          name: NameParams.properties.name,
          ref: Type.String({ pattern: '^[0-9]{1,10}$', description: 'a version number (not an alias)' }),
        }),
        response: { 204: Type.Null(), 404: ErrorBody, 409: ErrorBody },
      },
    },
    async (req, reply) => {
      const { name } = req.params;
      const version = parseRef(req.params.ref) as number;
      await app.deletion.deleteModelVersion(ownerOf(req), name, version);
      for (const key of rows.keys()) if (key.startsWith(`${ownerOf(req)}/${name}@`)) rows.delete(key);
      return reply.status(204).send(null);
    },
  );

  // registry rows for serving, re-read every few seconds: an alias moves, a new version becomes the latest, a version is deleted
  const LATEST_TTL_MS = 3000;
  const rows = new LRUCache<string, ModelRow>({ max: 1000 });
  async function resolveModel(ownerId: string, name: string, ref: number | string | undefined) {
    const key = `${ownerId}/${name}@${typeof ref === 'string' ? `alias:${ref}` : (ref ?? 'latest')}`;
    const hit = rows.get(key);
    if (hit) return hit;
    const row = await app.models.get(ownerId, name, ref);
    rows.set(key, row, { ttl: LATEST_TTL_MS });
    return row;
  }

  // a client may have a few predictions in flight per API process; more wait their turn as a 429
  const inFlight = new InFlightLimit(app.config.PREDICT_CONCURRENCY_PER_KEY);
  async function serve(
    req: FastifyRequest,
    name: string,
    version: number | string | undefined,
    instances: unknown[],
    options: InferOptions,
  ) {
    const release = inFlight.enter(clientOf(req));
    if (!release)
      throw new HttpError(
        429,
        `at most ${inFlight.perClient} predict or embed requests per API key in flight; wait for one to finish`,
        undefined,
        {
          code: 'too_many_predictions',
        },
      );
    // a prediction still running when its handler times out (503 sent) is stopped, with its thread
    // (Piscina starts a new one, which must load its models again: ~1 s). Not when the client just
    // leaves: a client that sent predictions and hung up at once could then keep the thread restarting,
    // while a finished task costs at most MAX_INSTANCES images (the per-key in-flight limit bounds them)
    try {
      return await serveModel(ownerOf(req), name, version, instances, options, req.handlerDeadline ?? undefined);
    } finally {
      release();
    }
  }

  async function serveModel(
    ownerId: string,
    name: string,
    version: number | string | undefined,
    instances: unknown[],
    options: InferOptions,
    signal?: AbortSignal,
  ) {
    const m = await resolveModel(ownerId, name, version);
    const ref = { id: m.id, probeJobId: m.jobId, cpcJobId: m.job.parentJobId!, head: m.head };
    try {
      return { model: m, predictions: await app.inference.predict(m.id, () => files.get(ref), toInputs(instances), options, signal) };
    } catch (err) {
      if (err instanceof NoNeighbourIndex) throw new HttpError(409, err.message, undefined, { code: 'no_neighbour_index' });
      if (err instanceof BadImageInput || err instanceof ImageInputError)
        throw new HttpError(400, err.message, undefined, { code: 'invalid_image' });
      if (err instanceof InferenceBusy)
        throw new HttpError(503, `${err.message}; try again shortly`, undefined, { code: 'inference_busy' });
      if (err instanceof InferenceCancelled)
        throw new HttpError(503, `the prediction was stopped after ${app.config.REQUEST_TIMEOUT_MS} ms`, undefined, {
          code: 'handler_timeout',
        });
      throw err;
    }
  }

  // the serving routes (and only they) take multipart/form-data PNG uploads too
  await app.register(async (scope) => {
    acceptImageForms(scope);
    const serving = scope.withTypeProvider<TypeBoxTypeProvider>();

    // each at /v1/models/:name/... (the latest, or the body's version) and at /v1/models/:name/versions/:ref/...
    // (a version number or an alias in the path)
    const versionOf = (req: { params: object; body: { version?: number } }) => {
      const ref = (req.params as { ref?: string }).ref;
      if (ref === undefined) return req.body.version;
      if (req.body.version !== undefined) throw new HttpError(400, 'give the version in the path or in the body, not both');
      return parseRef(ref);
    };
    for (const [prefix, params] of [
      ['/v1/models/:name', NameParams],
      ['/v1/models/:name/versions/:ref', RefParams],
    ] as const) {
      serving.post(
        `${prefix}/predict`,
        {
          schema: {
            tags: ['models'],
            description:
              'JSON body, or multipart/form-data with PNG files (any field name) and optional fields version, embedding and neighbours. ' +
              '`neighbours: k` adds the k most similar training images to each prediction (the probe’s index: 1000 training images ' +
              'embedded by the encoder, cosine similarity); 409 no_neighbour_index for a model probed before there were indexes.',
            params,
            body: PredictRequest,
            response: { 200: PredictResponse, 400: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody },
          },
        },
        async (req) => {
          const { model, predictions } = await serve(req, req.params.name, versionOf(req), req.body.instances, {
            embedding: req.body.embedding ?? false,
            neighbours: req.body.neighbours ?? 0,
          });
          return { model: model.name, version: model.version, predictions };
        },
      );
      serving.post(
        `${prefix}/embed`,
        { schema: { tags: ['models'], params, body: EmbedRequest, response: { 200: EmbedResponse, 400: ErrorBody, 404: ErrorBody } } },
        async (req) => {
          const { model, predictions } = await serve(req, req.params.name, versionOf(req), req.body.instances, {
            embedding: true,
            neighbours: 0,
          });
          return { model: model.name, version: model.version, embeddings: predictions.map((p) => p.embedding ?? []) };
        },
      );
    }
  });
};

export default models;
