import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { ErrorBody, Experiment, ExperimentCreate, Page, Pagination, Uuid } from '../schemas.js';
import { experimentDto } from '../dto.js';
import { ownerOf, visibleTo } from '../tenancy.js';

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

  app.get(
    '/v1/experiments/:id',
    { schema: { tags: ['experiments'], params: Type.Object({ id: Uuid }), response: { 200: Experiment, 404: ErrorBody } } },
    async (req) => {
      return experimentDto(await app.experiments.get(req.params.id, visibleTo(req)));
    },
  );
};

export default experiments;
