import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { EmbedResponse, ErrorBody, Model, ModelRegister, PredictRequest, PredictResponse } from '../schemas.js';
import { modelDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { ModelCache } from '../model-cache.js';
import { predictImages, ImageInputError, type ImageInput } from '../../cpc/inference.js';

const NameParams = Type.Object({ name: Type.String({ minLength: 1, maxLength: 100, pattern: '^[A-Za-z0-9][A-Za-z0-9._-]*$' }) });

function toInputs(instances: unknown[]): ImageInput[] {
  return instances.map((x, i) => {
    if (x && typeof x === 'object' && !Array.isArray(x)) {
      const b64 = (x as { png: string }).png;
      if (!/^[A-Za-z0-9+/=\s]*$/.test(b64)) throw new ImageInputError(`instances[${i}].png is not base64`);
      return new Uint8Array(Buffer.from(b64, 'base64'));
    }
    return x as ImageInput;
  });
}

const models: FastifyPluginAsyncTypebox = async (app) => {
  const cache = new ModelCache(app.db, app.artifacts, app.config.MODEL_CACHE_SIZE);
  app.addHook('onClose', async () => cache.clear());

  app.post('/v1/models', { schema: { tags: ['models'], body: ModelRegister, response: { 201: Model, 404: ErrorBody, 409: ErrorBody, 422: ErrorBody } } }, async (req, reply) => {
    const { name, jobId } = req.body;
    const head = req.body.head ?? 'mlp';
    const job = await app.db.job.findUnique({ where: { id: jobId } });
    if (!job) throw new HttpError(404, `no job ${jobId}`);
    if (job.kind !== 'probe') throw new HttpError(422, `job ${jobId} is a ${job.kind} job; register a succeeded probe job`);
    if (job.status !== 'succeeded') throw new HttpError(409, `probe job ${jobId} is ${job.status}`);
    const report = job.result as { cpc?: Record<string, number>; randomEncoder?: Record<string, number>; rawPixels?: Record<string, number> } | null;
    const metrics = { testAccuracy: report?.cpc?.[head] ?? null, randomEncoder: report?.randomEncoder?.[head] ?? null, rawPixels: report?.rawPixels?.[head] ?? null };
    for (let attempt = 0; ; attempt++) {
      const latest = await app.db.model.findFirst({ where: { name }, orderBy: { version: 'desc' } });
      try {
        const m = await app.db.model.create({ data: { name, version: (latest?.version ?? 0) + 1, jobId, head, metrics }, include: { job: { select: { parentJobId: true } } } });
        return reply.status(201).send(modelDto(m));
      } catch (err) {
        // two registrations raced for the same version number: take the next one
        if ((err as { code?: string }).code !== 'P2002' || attempt > 5) throw err;
      }
    }
  });

  app.get('/v1/models', { schema: { tags: ['models'], response: { 200: Type.Object({ items: Type.Array(Model) }) } } }, async () => {
    const items = await app.db.model.findMany({ orderBy: [{ name: 'asc' }, { version: 'desc' }], distinct: ['name'], include: { job: { select: { parentJobId: true } } } });
    return { items: items.map(modelDto) };
  });

  app.get(
    '/v1/models/:name/versions/:version',
    { schema: { tags: ['models'], params: Type.Object({ name: NameParams.properties.name, version: Type.Integer({ minimum: 1 }) }), response: { 200: Model, 404: ErrorBody } } },
    async (req) => {
      const m = await app.db.model.findUnique({ where: { name_version: { name: req.params.name, version: req.params.version } }, include: { job: { select: { parentJobId: true } } } });
      if (!m) throw new HttpError(404, `no model ${req.params.name} version ${req.params.version}`);
      return modelDto(m);
    },
  );

  // registry rows for serving: a named version never changes; "latest" is re-read every few seconds
  const rows = new Map<string, { row: Awaited<ReturnType<typeof findModel>>; expires: number }>();
  const LATEST_TTL_MS = 3000;
  function findModel(name: string, version: number | undefined) {
    return app.db.model.findFirst({ where: { name, ...(version ? { version } : {}) }, orderBy: { version: 'desc' }, include: { job: { select: { parentJobId: true } } } });
  }
  async function resolveModel(name: string, version: number | undefined) {
    const key = `${name}@${version ?? 'latest'}`;
    const hit = rows.get(key);
    if (hit && hit.expires > Date.now()) return hit.row;
    const row = await findModel(name, version);
    if (row) rows.set(key, { row, expires: version ? Infinity : Date.now() + LATEST_TTL_MS });
    if (rows.size > 1000) rows.clear();
    return row;
  }

  async function serve(name: string, version: number | undefined, instances: unknown[], embedding: boolean) {
    const m = await resolveModel(name, version);
    if (!m) throw new HttpError(404, version ? `no model ${name} version ${version}` : `no model ${name}`);
    const model = await cache.get(`${m.name}@${m.version}`, m.jobId, m.job.parentJobId!, m.head);
    try {
      return { model: m, predictions: predictImages(model, toInputs(instances), embedding) };
    } catch (err) {
      if (err instanceof ImageInputError) throw new HttpError(400, err.message);
      throw err;
    }
  }

  app.post(
    '/v1/models/:name/predict',
    {
      schema: {
        tags: ['models'],
        description: 'JSON body, or multipart/form-data with PNG files (any field name) and optional fields version and embedding',
        params: NameParams,
        body: PredictRequest,
        response: { 200: PredictResponse, 400: ErrorBody, 404: ErrorBody, 413: ErrorBody },
      },
    },
    async (req) => {
      const { model, predictions } = await serve(req.params.name, req.body.version, req.body.instances, req.body.embedding ?? false);
      return { model: model.name, version: model.version, predictions };
    },
  );

  app.post(
    '/v1/models/:name/embed',
    { schema: { tags: ['models'], params: NameParams, body: PredictRequest, response: { 200: EmbedResponse, 400: ErrorBody, 404: ErrorBody } } },
    async (req) => {
      const { model, predictions } = await serve(req.params.name, req.body.version, req.body.instances, true);
      return { model: model.name, version: model.version, embeddings: predictions.map((p) => p.embedding ?? []) };
    },
  );
};

export default models;
