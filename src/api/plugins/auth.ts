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
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { HttpError } from './errors.js';
import { allows, verifyApiKey, type ApiKeyIdentity } from '../../store/api-keys.js';
import type { ApiKeyScope } from '../../generated/prisma/client.js';

declare module 'fastify' {
  interface FastifyRequest {
    apiKey: ApiKeyIdentity | null;
  }
}

type Need = 'public' | 'read-optional' | ApiKeyScope;

const SERVING = /^\/v1\/(models\/:name\/(predict|embed)|artifacts\/:id)$/;

export function routeNeeds(method: string, url: string | undefined, readsRequireKey: boolean): Need {
  if (!url || !url.startsWith('/v1/')) return 'public';
  if (SERVING.test(url)) return 'read';
  if (method === 'GET' || method === 'HEAD') return readsRequireKey ? 'read' : 'read-optional';
  return 'write';
}

function presentedKey(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (typeof auth === 'string' && /^Bearer\s+/i.test(auth)) return auth.replace(/^Bearer\s+/i, '').trim();
  const header = req.headers['x-api-key'];
  return typeof header === 'string' ? header.trim() : undefined;
}

export default fp(async function auth(app: FastifyInstance) {
  const { AUTH, READS_REQUIRE_KEY, AUTH_CACHE_MS } = app.config;
  app.decorateRequest('apiKey', null);
  const cache = new Map<string, { identity: ApiKeyIdentity | null; until: number }>();
  const lastTouched = new Map<string, number>();

  async function identify(key: string): Promise<ApiKeyIdentity | null> {
    const hit = cache.get(key);
    if (hit && hit.until > Date.now()) return hit.identity;
    const identity = await verifyApiKey(app.db, key);
    if (cache.size > 10_000) cache.clear();
    cache.set(key, { identity, until: Date.now() + AUTH_CACHE_MS });
    return identity;
  }

  app.addHook('onRequest', async (req) => {
    const need = AUTH === 'off' ? 'public' : routeNeeds(req.method, req.routeOptions.url, READS_REQUIRE_KEY);
    const key = presentedKey(req);
    if (need === 'public' || (need === 'read-optional' && !key)) return;
    if (!key) throw new HttpError(401, 'an API key is required (Authorization: Bearer <key> or X-API-Key)');
    const identity = await identify(key);
    if (!identity) throw new HttpError(401, 'the API key is not valid (unknown, revoked or malformed)');
    req.apiKey = identity;
    if (need !== 'read-optional' && !allows(identity.scopes, need)) {
      throw new HttpError(403, `this API key (${identity.prefix}) lacks the ${need} scope`, { scopes: identity.scopes });
    }
    const now = Date.now();
    if ((lastTouched.get(identity.id) ?? 0) < now - 60_000) {
      lastTouched.set(identity.id, now);
      app.db.apiKey.update({ where: { id: identity.id }, data: { lastUsedAt: new Date() } }).catch(() => undefined);
    }
  });
});
