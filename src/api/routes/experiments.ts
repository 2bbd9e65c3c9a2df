import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Experiment, ExperimentCreate, Page, Pagination, Uuid } from '../schemas.js';
import { experimentDto } from '../dto.js';
import { HttpError } from '../plugins/errors.js';
import { ownerOf, visibleTo } from '../tenancy.js';

const experiments: FastifyPluginAsyncTypebox = async (app) => {
  app.post(
    '/v1/experiments',
    { schema: { tags: ['experiments'], body: ExperimentCreate, response: { 201: Experiment, 400: ErrorBody, 409: ErrorBody } } },
    async (req, reply) => {
      const ownerId = ownerOf(req);
      const existing = await app.db.experiment.findUnique({ where: { ownerId_name: { ownerId, name: req.body.name } } });
      if (existing) throw new HttpError(409, `an experiment named "${req.body.name}" exists`, { id: existing.id });
      // a concurrent request with the same name loses on the unique index: 409 too (errors.ts)
      const e = await app.db.experiment.create({ data: { ownerId, name: req.body.name, description: req.body.description ?? '' } });
      return reply.status(201).send(experimentDto(e));
    },
  );

  app.get(
    '/v1/experiments',
    { schema: { tags: ['experiments'], querystring: Pagination, response: { 200: Page(Experiment) } } },
    async (req) => {
      const limit = req.query.limit ?? 50;
      const offset = req.query.offset ?? 0;
      const where = visibleTo(req);
      const [items, total] = await Promise.all([
        app.db.experiment.findMany({ where, orderBy: { createdAt: 'desc' }, take: limit, skip: offset }),
        app.db.experiment.count({ where }),
      ]);
      return { items: items.map(experimentDto), total, limit, offset };
    },
  );

  app.get(
    '/v1/experiments/:id',
    { schema: { tags: ['experiments'], params: Type.Object({ id: Uuid }), response: { 200: Experiment, 404: ErrorBody } } },
    async (req) => {
      const e = await app.db.experiment.findFirst({ where: { id: req.params.id, ...visibleTo(req) } });
      if (!e) throw new HttpError(404, `no experiment ${req.params.id}`);
      return experimentDto(e);
    },
  );
};

export default experiments;
