/**
 * Per-key rate limiting on the /v1 API with @fastify/rate-limit, counted in
 * Redis so the limit holds across API replicas. It runs right after
 * authentication and before the body is read or validated (keyed by API key
 * id, or by client address without a key), so oversized, malformed and
 * invalid requests count too; unknown /v1 paths are limited through the
 * not-found handler (app.ts). Its Redis
 * connection (app.redis) does not queue commands while Redis is away, so an
 * outage skips the limit instead of stalling requests.
 */
import fp from 'fastify-plugin';
import rateLimit from '@fastify/rate-limit';
import type { FastifyInstance } from 'fastify';
import { HttpError } from './errors.js';
import { requestPath } from '../request-path.js';

export default fp(async function rateLimits(app: FastifyInstance) {
  await app.register(rateLimit, {
    global: true,
    hook: 'onRequest',
    max: app.config.RATE_LIMIT_PER_MIN,
    timeWindow: 60_000,
    redis: app.redis,
    nameSpace: `${app.config.QUEUE_PREFIX}:ratelimit:`,
    skipOnError: true,
    allowList: (req) => !(req.routeOptions.url ?? requestPath(req.url)).startsWith('/v1/'),
    keyGenerator: (req) => (req.apiKey ? `key:${req.apiKey.id}` : `ip:${req.ip}`),
    errorResponseBuilder: (_req, context) =>
      new HttpError(
        429,
        `rate limit exceeded: ${context.max} requests per minute; retry in ${Math.ceil(context.ttl / 1000)} s`,
        undefined,
        {
          code: 'rate_limited',
        },
      ),
  });
});
