/**
 * Input rules that hold for every route, checked once here instead of in
 * each schema:
 * - bodies arrive uncompressed: a Content-Encoding other than identity is a
 *   415 (the service does not inflate, and must not parse compressed bytes);
 * - JSON is parsed with prototype-poisoning protection and a message that
 *   says what is wrong (`__proto__` keys are refused as such, not as
 *   "invalid JSON");
 * - no string anywhere in the params, query or body may hold a NUL character
 *   (PostgreSQL text cannot store one; it would otherwise be a 500);
 * - a POST route that declares no body takes none (an empty JSON object is
 *   tolerated for clients that always send one).
 */
import fp from 'fastify-plugin';
import type { FastifyInstance } from 'fastify';
import secureJson from 'secure-json-parse';
import { EventEmitter } from 'node:events';
import { HttpError } from './errors.js';

/**
 * Not a value a parser made of text: a body handed over as a stream (its object graph is Node's
 * sockets, parsers and timers) or as bytes. Walking one would take for ever, and it holds no text.
 */
function isStreamOrBytes(value: object): boolean {
  return value instanceof EventEmitter || ArrayBuffer.isView(value) || value instanceof ArrayBuffer;
}

/**
 * The path (`/a/0/b`) to the first string or key with a NUL in it, or null. Linear in the body and
 * allocation-free until a hit: a body of millions of numbers must not hold the event loop.
 */
function findNul(value: unknown, depth = 0): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? '' : null;
  if (depth > 64 || value === null || typeof value !== 'object' || isStreamOrBytes(value)) return null;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      if (typeof item !== 'string' && (typeof item !== 'object' || item === null)) continue;
      const hit = findNul(item, depth + 1);
      if (hit !== null) return `/${i}${hit}`;
    }
    return null;
  }
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return `/${k.replaceAll('\u0000', '\\0')}`;
    const hit = findNul(v, depth + 1);
    if (hit !== null) return `/${k}${hit}`;
  }
  return null;
}

export default fp(async function inputHygiene(app: FastifyInstance) {
  app.addHook('onRequest', async (req) => {
    // (Node's own check answered this with an empty body: app.ts turns it off and it is made here)
    if (req.raw.httpVersion === '1.1' && !req.headers.host) throw new HttpError(400, 'an HTTP/1.1 request needs a Host header');
    const encoding = req.headers['content-encoding'];
    if (encoding !== undefined && encoding.trim().toLowerCase() !== 'identity') {
      throw new HttpError(
        415,
        `Content-Encoding ${JSON.stringify(String(encoding).slice(0, 40))} is not supported; send the body uncompressed`,
      );
    }
  });

  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = body as string;
    if (text.length === 0)
      return done(
        new HttpError(400, 'the body is empty but Content-Type says application/json', undefined, { code: 'invalid_json' }),
        undefined,
      );
    try {
      done(null, secureJson.parse(text, undefined, { protoAction: 'error', constructorAction: 'error' }));
    } catch (err) {
      const message = (err as Error).message;
      done(
        new HttpError(
          400,
          /forbidden prototype property/.test(message)
            ? 'JSON bodies may not contain "__proto__" or "constructor.prototype" keys'
            : `the body is not valid JSON: ${message}`,
          undefined,
          { code: 'invalid_json' },
        ),
        undefined,
      );
    }
  });

  app.addHook('preValidation', async (req) => {
    for (const [part, value] of [
      ['params', req.params],
      ['query', req.query],
      // (a streamed upload is read by its handler, which checks what it reads)
      ['body', req.routeOptions.config.streamedBody ? undefined : req.body],
    ] as const) {
      const where = findNul(value);
      if (where !== null) throw new HttpError(400, `${part}${where}: NUL characters are not allowed`);
    }
  });

  app.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    if (!methods.includes('POST') || route.schema?.body || route.config?.streamedBody) return;
    const noBody = async (req: { body?: unknown }) => {
      const empty =
        req.body === undefined || req.body === null || (typeof req.body === 'object' && Object.keys(req.body as object).length === 0);
      if (!empty) throw new HttpError(400, 'this route takes no request body');
    };
    route.preValidation = [
      ...(Array.isArray(route.preValidation) ? route.preValidation : route.preValidation ? [route.preValidation] : []),
      noBody,
    ];
  });
});
