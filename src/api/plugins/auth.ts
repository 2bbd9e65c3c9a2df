/**
 * API-key authentication and scopes. Which routes need what:
 *   /healthz, /readyz, /metrics, /docs           public
 *   GET /v1/...                                  a `read` key when READS_REQUIRE_KEY, else public
 *   predict, embed, artifact download            a `read` key
 *   every other POST /v1/...                     a `write` key
 * `admin` implies `write`, which implies `read`. Keys come as
 * `Authorization: Bearer <key>` or `X-API-Key: <key>`; a presented key is
 * always checked, even where none is needed. Verified keys are cached for
 * AUTH_CACHE_MS, so a revocation takes effect within that time.
 */
import fp from 'fastify-plugin';
import { LRUCache } from 'lru-cache';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { HttpError, errorBody } from './errors.js';
import { AuthFailureBudget } from '../auth-failures.js';
import { requestPath } from '../request-path.js';
import { allows, touchApiKey, verifyApiKey, type ApiKeyIdentity } from '../../store/api-keys.js';
import type { ApiKeyScope } from '../../generated/prisma/client.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyIdentity | null;
  }
}

type Need = 'public' | 'read-optional' | ApiKeyScope;

const SERVING = /^\/v1\/(models\/:name\/(versions\/:ref\/)?(predict|embed)|artifacts\/:id)$/;

/** `url` is the route's pattern, or the raw URL for a path no route matches */
export function routeNeeds(method: string, url: string | undefined, readsRequireKey: boolean, matched = true): Need {
  // the queue board (and anything under /admin, known or not) is for admin keys
  if (url === '/admin' || url?.startsWith('/admin/')) return 'admin';
  if (!url || !url.startsWith('/v1/')) return 'public';
  // an unknown /v1 path answers 404 to anyone; a key that comes with it is still checked (and counted)
  if (!matched) return 'read-optional';
  if (SERVING.test(url)) return 'read';
  if (method === 'GET' || method === 'HEAD') return readsRequireKey ? 'read' : 'read-optional';
  return 'write';
}

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  // (a browser on the queue board: HTTP Basic, the key as the password)
  if (typeof auth === 'string' && /^Basic\s+/i.test(auth)) {
    const decoded = Buffer.from(auth.replace(/^Basic\s+/i, ''), 'base64').toString('utf8');
    return decoded.slice(decoded.indexOf(':') + 1).trim() || undefined;
  }
  const header = req.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

export default fp(async function auth(app: FastifyInstance) {
  const { AUTH, READS_REQUIRE_KEY, AUTH_CACHE_MS, AUTH_FAILURES_PER_MIN, QUEUE_PREFIX } = app.config;
  app.decorateRequest('apiKey', null);
  // valid and invalid keys are cached apart, so a flood of made-up keys cannot push out the real ones
  const caching = AUTH_CACHE_MS > 0;
  const valid = new LRUCache<string, ApiKeyIdentity>({ max: 10_000, ttl: Math.max(AUTH_CACHE_MS, 1) });
  const invalid = new LRUCache<string, true>({ max: 10_000, ttl: Math.max(AUTH_CACHE_MS, 1) });
  const lastTouched = new LRUCache<string, number>({ max: 10_000 });
  const budget = new AuthFailureBudget(app.db, app.redis, AUTH_FAILURES_PER_MIN, `${QUEUE_PREFIX}:authfail:`);
  app.addHook('onClose', async () => budget.close());
  const tooManyFailures = () =>
    new HttpError(
      429,
      `too many requests with invalid API keys from this address (${AUTH_FAILURES_PER_MIN} a minute); wait a minute`,
      undefined,
      {
        code: 'auth_failures_exceeded',
      },
    );

  async function identify(key: string, ip: string): Promise<ApiKeyIdentity | null> {
    const known = caching ? valid.get(key) : undefined;
    if (known) return known;
    if (caching && invalid.has(key)) return null;
    // only a key the cache does not know costs a database lookup (see auth-failures.ts)
    if (!(await budget.mayVerify(key, ip))) throw tooManyFailures();
    const identity = await verifyApiKey(app.db, key);
    if (identity) {
      budget.succeeded(key);
      if (caching) valid.set(key, identity);
    } else {
      if (caching) invalid.set(key, true);
      if (await budget.failed(key, ip)) throw tooManyFailures();
    }
    return identity;
  }

  app.addHook('onRequest', async (req, reply) => {
    const matched = req.routeOptions.url !== undefined;
    const need =
      AUTH === 'off' ? 'public' : routeNeeds(req.method, req.routeOptions.url ?? requestPath(req.url), READS_REQUIRE_KEY, matched);
    try {
      await authenticate(req, reply, need);
    } catch (err) {
      // the queue board's plugin sets an error handler of its own (bull-board's shape): its refusals are answered here, in ours
      if (need !== 'admin' || !(err instanceof HttpError)) throw err;
      if (err.retryAfter !== undefined) void reply.header('retry-after', String(err.retryAfter));
      return reply.status(err.statusCode).send(errorBody(err.statusCode, err.message, req.id, err.details, err.code));
    }
  });

  async function authenticate(req: FastifyRequest, reply: FastifyReply, need: Need): Promise<void> {
    const key = presentedKey(req);
    if (need === 'public' || (need === 'read-optional' && !key)) return;
    if (!key) {
      // (a browser asks for the key, as the password of HTTP Basic authentication)
      if (need === 'admin') void reply.header('www-authenticate', 'Basic realm="cpc-service admin: the password is an admin API key"');
      throw new HttpError(401, 'an API key is required (Authorization: Bearer <key> or X-API-Key)', undefined, {
        code: 'api_key_required',
      });
    }
    const identity = await identify(key, req.ip);
    if (!identity)
      throw new HttpError(401, 'the API key is not valid (unknown, revoked or malformed)', undefined, { code: 'api_key_invalid' });
    req.apiKey = identity;
    if (need !== 'read-optional' && !allows(identity.scopes, need)) {
      throw new HttpError(
        403,
        `this API key (${identity.prefix}) lacks the ${need} scope`,
        { scopes: identity.scopes },
        { code: 'scope_insufficient' },
      );
    }
    const now = Date.now();
    if ((lastTouched.get(identity.id) ?? 0) < now - 60_000) {
      lastTouched.set(identity.id, now);
      touchApiKey(app.db, identity.id).catch(() => undefined);
    }
  }
});
