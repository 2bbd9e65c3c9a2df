/** The Fastify application: plugins (errors, services, OpenAPI) and routes. */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import type { ServiceConfig } from '../config.js';
import errors from './plugins/errors.js';
import services from './plugins/services.js';
import multipartImages from './plugins/multipart-images.js';
import health from './routes/health.js';
import experiments from './routes/experiments.js';
import jobs from './routes/jobs.js';
import artifacts from './routes/artifacts.js';
import models from './routes/models.js';
import events from './routes/events.js';
import metrics from './routes/metrics.js';
import { ErrorBody } from './schemas.js';

export const OPENAPI_INFO = {
  title: 'cpc-service',
  description: 'Contrastive Predictive Coding training jobs: submit, watch, and serve the trained models.',
  version: '0.1.0',
};

/**
 * `offline` builds the routes without connecting to Postgres or Redis: only
 * for producing the OpenAPI document.
 */
export async function buildApp(config: ServiceConfig, options: { logger?: boolean; offline?: boolean } = {}): Promise<FastifyInstance> {
  const app = Fastify({
    logger: options.logger === false ? false : { level: config.LOG_LEVEL, redact: ['req.headers.authorization', 'req.headers["x-api-key"]'] },
    genReqId: (req) => (typeof req.headers['x-request-id'] === 'string' && req.headers['x-request-id'].length <= 100 ? req.headers['x-request-id'] : randomUUID()),
    bodyLimit: 8 * 1024 * 1024,
    requestTimeout: 60_000,
    ajv: { customOptions: { removeAdditional: false, coerceTypes: 'array', useDefaults: true, allErrors: false } },
  }).withTypeProvider<TypeBoxTypeProvider>();

  await app.register(errors);
  await app.register(multipartImages);
  app.addSchema(ErrorBody);
  // every route that validates input can answer 400, and any route 500: document both
  app.addHook('onRoute', (route) => {
    if (!route.schema) return;
    const response = (route.schema.response ??= {}) as Record<string, unknown>;
    const validates = route.schema.body || route.schema.params || route.schema.querystring || route.schema.headers;
    if (validates && !response[400]) response[400] = ErrorBody;
    if (!response[500]) response[500] = ErrorBody;
  });
  await app.register(swagger, { openapi: { openapi: '3.0.3', info: OPENAPI_INFO } });
  await app.register(swaggerUi, { routePrefix: '/docs' });
  app.decorate('config', config);
  if (!options.offline) await app.register(services, { config });
  await app.register(metrics);
  await app.register(health);
  await app.register(experiments);
  await app.register(jobs);
  await app.register(artifacts);
  await app.register(models);
  await app.register(events);
  return app;
}
