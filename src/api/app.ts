/** The Fastify application: plugins (errors, services, OpenAPI) and routes. */
import Fastify, { type FastifyInstance } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import { randomUUID } from 'node:crypto';
import type { ServiceConfig } from '../config.js';
import helmet from '@fastify/helmet';
import errors, { answerExpectations, clientErrorHandler, frameworkErrors, refuseTunnels, sendNotFound } from './plugins/errors.js';
import inputHygiene from './plugins/input-hygiene.js';
import requestBodies from './plugins/request-bodies.js';
import handlerTimeout from './plugins/handler-timeout.js';
import auth from './plugins/auth.js';
import rateLimits from './plugins/rate-limits.js';
import database from './plugins/database.js';
import queue from './plugins/queue.js';
import artifactStore from './plugins/artifact-store.js';
import inference from './plugins/inference.js';
import repositories from './plugins/repositories.js';
import health from './routes/health.js';
import info from './routes/info.js';
import experiments from './routes/experiments.js';
import jobs from './routes/jobs.js';
import artifacts from './routes/artifacts.js';
import models from './routes/models.js';
import datasets from './routes/datasets.js';
import events from './routes/events.js';
import metrics from './routes/metrics.js';
import { ErrorBody } from './schemas.js';
import { validationMessage, validatorCompiler } from './validation.js';
import queueBoard from './routes/queue-board.js';
import dashboard from './routes/dashboard.js';
import logs from './routes/logs.js';
import { eventStreams } from './event-stream.js';
import liveFeeds from './plugins/live-feeds.js';
import { nameOperations } from './operation-ids.js';
import { nameComponents } from './openapi-components.js';
import { capConnectionsPerClient } from './connection-cap.js';

declare module 'fastify' {
  interface FastifyInstance {
    config: ServiceConfig;
  }
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,100}$/;

export const OPENAPI_INFO = {
  title: 'cpc-service',
  description: 'Contrastive Predictive Coding training jobs: submit, watch, and serve the trained models.',
  version: '0.1.0',
};

/**
 * `offline` builds the routes without connecting to Postgres or Redis: only
 * for producing the OpenAPI document.
 */
/** TRUST_PROXY as Fastify's trustProxy: '' none, 'true' every peer, else addresses and CIDRs separated by commas */
export function trustProxySetting(value: string): boolean | string[] {
  const v = value.trim();
  if (v === '' || v === 'false') return false;
  if (v === 'true') return true;
  return v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
}

export async function buildApp(
  config: ServiceConfig,
  options: { logger?: boolean; offline?: boolean; logStream?: NodeJS.WritableStream } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    logger:
      options.logger === false
        ? false
        : {
            level: config.LOG_LEVEL,
            redact: ['req.headers.authorization', 'req.headers["x-api-key"]'],
            ...(options.logStream ? { stream: options.logStream } : {}),
          },
    // a client's own request id is kept only if it is a plain token (it ends up in logs and headers)
    genReqId: (req) => {
      const sent = req.headers['x-request-id'];
      return typeof sent === 'string' && REQUEST_ID.test(sent) ? sent : randomUUID();
    },
    bodyLimit: 8 * 1024 * 1024,
    // the headers must arrive within REQUEST_BODY_TIMEOUT_MS of the connection opening (408, checked
    // every second: a connection that sends nothing is closed then too); the
    // body has the same time after them (plugins/slow-bodies.ts)
    requestTimeout: config.REQUEST_BODY_TIMEOUT_MS,
    // (requireHostHeader: the missing Host is answered by plugins/input-hygiene.ts, in the usual body)
    http: { connectionsCheckingInterval: Math.min(1000, config.REQUEST_BODY_TIMEOUT_MS), requireHostHeader: false },
    trustProxy: trustProxySetting(config.TRUST_PROXY),
    // errors before there is a route (HTTP parser, bad URLs) get the same body as every other error
    clientErrorHandler,
    frameworkErrors,
    schemaErrorFormatter: (errors, dataVar) => new Error(validationMessage(errors as Parameters<typeof validationMessage>[0], dataVar)),
  }).withTypeProvider<TypeBoxTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  if (config.MAX_CONNECTIONS_PER_CLIENT > 0) capConnectionsPerClient(app.server, config.MAX_CONNECTIONS_PER_CLIENT);
  refuseTunnels(app.server);
  answerExpectations(app.server);

  app.decorate('config', config);
  await app.register(errors);
  await app.register(inputHygiene);
  await app.register(requestBodies);
  await app.register(handlerTimeout);
  app.addSchema(ErrorBody);
  // document the answers every route can give: 400 where input is validated or a body may come
  // (NUL characters, a body where none belongs), 408/413/415 where a body is read (too slow, too
  // large, an unsupported type or encoding), 401/403/429 on the /v1 API (keys, rate limits), 503
  // (a dependency away, a handler timeout, inference busy) and 500. (414 and 431, a path segment or
  // headers too long, are answered before there is a route; README lists them.)
  app.addHook('onRoute', (route) => {
    // (not the queue board's own API: bull-board answers its errors in its own shape, which our
    // error schema would refuse to serialize)
    if (!route.schema || route.url.startsWith('/admin/')) return;
    const response = (route.schema.response ??= {}) as Record<string, unknown>;
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const takesBody = methods.some((m) => ['POST', 'PUT', 'PATCH'].includes(m));
    const validates =
      takesBody ||
      route.url.startsWith('/v1/') ||
      route.schema.body ||
      route.schema.params ||
      route.schema.querystring ||
      route.schema.headers;
    const statuses = [
      ...(validates ? [400] : []),
      ...(takesBody ? [408, 413, 415] : []),
      ...(route.url.startsWith('/v1/') ? [401, 403, 429] : []),
      500,
      503,
    ];
    for (const status of statuses) response[status] ??= ErrorBody;
  });
  // (the dashboard shows images it fetched with the key as blob: URLs)
  await app.register(helmet, {
    // (no upgrade-insecure-requests: behind plain HTTP on a LAN address it sent the browser to https for the scripts)
    contentSecurityPolicy: { directives: { imgSrc: ["'self'", 'data:', 'blob:'], upgradeInsecureRequests: null } },
  });
  // (before swagger, whose own onRoute hook reads the schema)
  nameOperations(app);
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: OPENAPI_INFO,
      components: {
        securitySchemes: { apiKey: { type: 'http', scheme: 'bearer', description: 'an API key (cpc keys create); X-API-Key works too' } },
      },
      security: [{ apiKey: [] }],
    },
    // (the titled schemas as named components, referenced by $ref)
    transformObject: (document) => ('openapiObject' in document ? nameComponents(document.openapiObject) : document.swaggerObject),
  });
  await app.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });
  if (!options.offline) {
    // external resources, then what is built on them (each plugin names its dependencies)
    for (const plugin of [database, queue, artifactStore, inference, repositories, auth, rateLimits, eventStreams, liveFeeds])
      await app.register(plugin);
  }
  // unknown paths are rate-limited like known ones
  app.setNotFoundHandler(app.hasDecorator('rateLimit') ? { preHandler: app.rateLimit() } : {}, sendNotFound);
  for (const routes of [metrics, health, info, experiments, datasets, jobs, artifacts, models, events, logs, queueBoard, dashboard])
    await app.register(routes);
  return app;
}
