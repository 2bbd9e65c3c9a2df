import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { withTimeout } from '../timeout.js';
import { ping } from '../../store/db.js';

const Readiness = Type.Object({ status: Type.String(), postgres: Type.String(), redis: Type.String() });

/** Readiness says which dependency is away, never its error text (that goes to the log). */
const health: FastifyPluginAsyncTypebox = async (app) => {
  app.get('/healthz', { schema: { tags: ['health'], response: { 200: Type.Object({ status: Type.Literal('ok') }) } } }, async () => ({
    status: 'ok' as const,
  }));

  app.get('/readyz', { schema: { tags: ['health'], response: { 200: Readiness, 503: Readiness } } }, async (_req, reply) => {
    const check = async (f: () => Promise<unknown>) => {
      try {
        await withTimeout(f(), 2000);
        return 'ok';
      } catch (err) {
        app.log.warn({ err: (err as Error).message }, 'readiness check failed');
        return 'unavailable';
      }
    };
    const [postgres, redis] = await Promise.all([check(() => ping(app.db)), check(() => app.redis.ping())]);
    const ok = postgres === 'ok' && redis === 'ok';
    return reply.status(ok ? 200 : 503).send({ status: ok ? 'ready' : 'not ready', postgres, redis });
  });
};

export default health;
