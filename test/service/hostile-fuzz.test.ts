/**
 * Fuzzing with what an attacker sends, not only what openapi.yaml describes,
 * against a live API process over real sockets (test/service/live-api.ts):
 * every route and unknown paths, any method, NUL characters and numeric
 * extremes in every string and number (path, query and body), every content
 * type (JSON, multipart valid and truncated, urlencoded, octet-stream, text,
 * none, nonsense), compressed bodies (gzip, br, deflate), bodies cut short,
 * bodies that stop arriving, oversized bodies, and any key or none.
 * Properties: the process stays up, no 5xx (only the documented 503 reasons),
 * every JSON error has the documented shape, memory and tensors stay bounded.
 * Then concurrent duplicates on every unique name. Prints the request count.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import { brotliCompressSync, deflateSync, gzipSync } from 'node:zlib';
import { startHarness, waitFor, type Harness } from './harness.js';
import { stopFirstWorker, tinyConfig, trainDigitsModel } from './fixtures.js';
import { startLiveApi, rawRequest, type LiveApi } from './live-api.js';
import { known, knownBodyValues, operations, requestFor } from './openapi-arbitraries.js';
import { createApiKey } from '../../src/store/api-keys.js';
import { encodePng } from '../../src/cpc/png.js';

const RUNS = Number(process.env.HOSTILE_RUNS ?? 1500);
const SEED = Number(process.env.HOSTILE_SEED ?? 7);

let h: Harness;
let live: LiveApi;
let auths: string[] = [];
let sent = 0;
const statuses = new Map<number, number>();

const EXTREME_STRINGS = [
  '\u0000',
  'a\u0000b',
  'x'.repeat(300),
  '../../../etc/passwd',
  '2147483648',
  '-1',
  '1e19',
  '9007199254740993',
  'NaN',
  '𝔘𝔫𝔦',
  '<script>alert(1)</script>',
  "'; DROP TABLE jobs; --",
  ' ',
  '',
  '\r\nX-Injected: 1',
];
const EXTREME_NUMBERS = [2 ** 31, 2 ** 31 - 1, -(2 ** 31) - 1, 2 ** 53 + 2, 1e19, -1e19, 1e308, -0, 0.5, Number('9223372036854775807'), -1];
const RAW_SEGMENTS = ['%zz', '%00', '%2e%2e', '%2F', '..', '%E0%A4%A', `${'a'.repeat(150)}`];
const UNKNOWN_PATHS = [
  '/',
  '/v1',
  '/v1/',
  '/v2/jobs',
  '/v1/jobs/',
  '/.env',
  '/v1/../v1/jobs',
  '/%2e%2e/%2e%2e/etc/passwd',
  '/v1/models/x/predict/extra',
  '/docs/../../package.json',
  '/v1/jobs?limit=1&limit=2',
];
const METHODS = ['PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'TRACE', 'PROPFIND'];

beforeAll(async () => {
  h = await startHarness();
  const { cpcJobId, probeJobId } = await trainDigitsModel(h);
  const artifact = await h.app.db.artifact.findFirstOrThrow({ where: { jobId: cpcJobId } });
  known.id = [cpcJobId, probeJobId, artifact.id];
  Object.assign(knownBodyValues, { cpcJobId: [cpcJobId], jobId: [probeJobId] });
  // fuzzed submissions only queue
  await stopFirstWorker(h);
  const read = (await createApiKey(h.app.db, 'fuzz-read', ['read'], h.owner.name)).key;
  auths = [
    `Authorization: Bearer ${h.adminKey}`,
    `Authorization: Bearer ${read}`,
    '',
    `Authorization: Bearer cpc_000000000000_${'A'.repeat(43)}`,
    'Authorization: Basic YTpi',
    `X-API-Key: ${h.adminKey}`,
  ];
  // limits out of the way (they have their own tests), a short body timeout so that bodies that stop arriving cost little
  live = await startLiveApi({
    ...h.env,
    REQUEST_BODY_TIMEOUT_MS: '400',
    RATE_LIMIT_PER_MIN: '1000000',
    AUTH_FAILURES_PER_MIN: '1000000',
    PREDICT_CONCURRENCY_PER_KEY: '64',
  });
}, 240_000);

afterAll(async () => {
  console.log(`hostile fuzz: ${sent} requests; statuses ${JSON.stringify(Object.fromEntries([...statuses].sort(([a], [b]) => a - b)))}`);
  await live?.stop();
  await h?.stop();
});

/** every string leaf replaced by `s`, every number leaf by `n` (each with the given switch) */
function extremify(value: unknown, s: string | null, n: number | null): unknown {
  if (typeof value === 'string') return s ?? value;
  if (typeof value === 'number') return n ?? value;
  if (Array.isArray(value)) return value.map((v) => extremify(v, s, n));
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, extremify(v, s, n)]));
  return value;
}

const tinyPng = Buffer.from(encodePng(28, 28, new Uint8Array(28 * 28 * 3)));

function multipart(kind: 'valid' | 'truncated' | 'no-boundary', boundary = 'FUZZ'): { type: string; body: Buffer } {
  const part = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png\r\n\r\n`),
    tinyPng,
    Buffer.from(`\r\n--${boundary}--\r\n`),
  ]);
  if (kind === 'truncated') return { type: `multipart/form-data; boundary=${boundary}`, body: part.subarray(0, part.length - 40) };
  if (kind === 'no-boundary') return { type: 'multipart/form-data', body: part };
  return { type: `multipart/form-data; boundary=${boundary}`, body: part };
}

const hostileRequest = fc.record({
  op: fc.constantFrom(...operations),
  target: fc.oneof(
    { weight: 6, arbitrary: fc.constant('documented') },
    { weight: 1, arbitrary: fc.constantFrom(...UNKNOWN_PATHS) },
    { weight: 1, arbitrary: fc.webPath() },
  ),
  method: fc.oneof({ weight: 8, arbitrary: fc.constant('documented') }, { weight: 1, arbitrary: fc.constantFrom(...METHODS) }),
  pathExtreme: fc.option(
    fc.oneof(
      fc.constantFrom(...EXTREME_STRINGS).map((x) => encodeURIComponent(x)),
      fc.constantFrom(...RAW_SEGMENTS),
    ),
    { freq: 3 },
  ),
  queryExtreme: fc.option(
    fc.tuple(
      fc.constantFrom('limit', 'offset', 'status', 'name', 'split', 'kind', 'experimentId', 'x'),
      fc.oneof(fc.constantFrom(...EXTREME_STRINGS).map(encodeURIComponent), fc.constantFrom(...EXTREME_NUMBERS).map(String)),
    ),
    { freq: 3 },
  ),
  leafString: fc.option(fc.constantFrom(...EXTREME_STRINGS), { freq: 2 }),
  leafNumber: fc.option(fc.constantFrom(...EXTREME_NUMBERS), { freq: 2 }),
  content: fc.constantFrom(
    'json',
    'json',
    'json',
    'multipart',
    'multipart-truncated',
    'multipart-no-boundary',
    'urlencoded',
    'octet-stream',
    'text',
    'none',
    'json-utf16',
    'nonsense',
  ),
  encoding: fc.constantFrom('none', 'none', 'none', 'gzip', 'br', 'deflate', 'identity'),
  shape: fc.oneof(
    { weight: 20, arbitrary: fc.constant('whole') },
    { weight: 4, arbitrary: fc.constant('cut-short') },
    { weight: 1, arbitrary: fc.constant('stalls') },
    { weight: 1, arbitrary: fc.constant('oversize') },
  ),
  cut: fc.double({ min: 0, max: 1, noNaN: true }),
  auth: fc.nat(),
  seed: fc.nat(),
});

async function send(r: typeof hostileRequest extends fc.Arbitrary<infer T> ? T : never): Promise<void> {
  // the documented request, from the openapi generators
  const [generated] = fc.sample(requestFor(r.op), { seed: r.seed, numRuns: 1 });
  let path = r.target === 'documented' ? generated.url : r.target;
  if (r.pathExtreme !== null && r.target === 'documented' && path.split('/').length > 3) {
    const parts = path.split('/');
    parts[parts.length - 1] = r.pathExtreme;
    path = parts.join('/');
  }
  const query = [generated.query, r.queryExtreme ? `${r.queryExtreme[0]}=${r.queryExtreme[1]}` : ''].filter(Boolean).join('&');
  const method = r.method === 'documented' ? r.op.method : r.method;
  const jsonBody = generated.body === undefined ? undefined : extremify(generated.body, r.leafString, r.leafNumber);
  let type: string | null = 'application/json';
  let body: Buffer = Buffer.from(jsonBody === undefined ? '' : typeof jsonBody === 'string' ? jsonBody : JSON.stringify(jsonBody));
  if (r.content.startsWith('multipart'))
    ({ type, body } = multipart(r.content === 'multipart' ? 'valid' : r.content === 'multipart-truncated' ? 'truncated' : 'no-boundary'));
  else if (r.content === 'urlencoded') [type, body] = ['application/x-www-form-urlencoded', Buffer.from('kind=cpc&name=%00')];
  else if (r.content === 'octet-stream') [type, body] = ['application/octet-stream', tinyPng];
  else if (r.content === 'text') [type, body] = ['text/plain', Buffer.from('hello\u0000')];
  else if (r.content === 'none') type = null;
  else if (r.content === 'json-utf16') [type, body] = ['application/json; charset=utf-16', Buffer.from(body.toString(), 'utf16le')];
  else if (r.content === 'nonsense') type = ';;; boundary="';
  if (r.shape === 'oversize')
    body = Buffer.concat([Buffer.from('{"instances":[{"png":"'), Buffer.alloc(9 * 1024 * 1024, 'A'), Buffer.from('"}]}')]);
  const headers = [`${method} ${path}${query ? `?${query}` : ''} HTTP/1.1`, 'Host: x', 'Connection: close'];
  const auth = auths[r.auth % auths.length];
  if (auth) headers.push(auth);
  if (r.encoding !== 'none') {
    headers.push(`Content-Encoding: ${r.encoding}`);
    if (r.encoding === 'gzip') body = gzipSync(body);
    if (r.encoding === 'br') body = brotliCompressSync(body);
    if (r.encoding === 'deflate') body = deflateSync(body);
  }
  if (type) headers.push(`Content-Type: ${type}`);
  let chunks: Buffer[] = body.length ? [body] : [];
  if (r.shape === 'cut-short' && body.length) {
    chunks = [body.subarray(0, Math.floor(body.length * r.cut))];
    headers.push(`Content-Length: ${chunks[0].length}`);
  } else if (r.shape === 'stalls' && body.length) {
    headers.push(`Content-Length: ${body.length}`);
    chunks = [body.subarray(0, Math.floor(body.length * r.cut))];
  } else if (body.length || method === 'POST') headers.push(`Content-Length: ${body.length}`);
  const answer = await rawRequest(live.port, headers.join('\r\n'), chunks, { timeoutMs: 15_000 }).catch((err: Error) => ({
    status: 0,
    error: err.message,
    json: null,
    body: '',
    headers: {} as Record<string, string>,
  }));
  sent++;
  const where = `${headers[0].slice(0, 200)} [${r.content}/${r.encoding}/${r.shape}] -> ${answer.status} ${answer.body.slice(0, 300)}`;
  // a reset before the answer is acceptable only when we were still sending a body the server had refused
  if (answer.status === 0) {
    expect(r.shape === 'oversize' || r.shape === 'stalls', `${where} (${(answer as { error?: string }).error})`).toBe(true);
  } else {
    statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
    if (answer.status >= 500)
      expect(answer.status === 503 && /unavailable|timed out|busy/i.test(answer.json?.message ?? ''), where).toBe(true);
    if (answer.status >= 400 && method !== 'HEAD' && /application\/json/.test(answer.headers['content-type'] ?? '')) {
      expect(answer.json, where).toMatchObject({
        error: expect.any(String),
        code: expect.stringMatching(/^[a-z_]+$/),
        message: expect.any(String),
        requestId: expect.any(String),
      });
    }
    expect(answer.headers['x-injected'], where).toBeUndefined();
  }
  expect(live.alive(), `the API process exited after ${where}:\n${live.output().slice(-3000)}`).toBe(true);
}

async function scrapeTensors(): Promise<number> {
  const text = (await rawRequest(live.port, 'GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close')).body;
  return Number(/^cpc_tensors (\S+)$/m.exec(text)?.[1]);
}

async function predictOnce(): Promise<number> {
  const body = JSON.stringify({ instances: [Array.from({ length: 28 }, () => Array(28).fill(7))] });
  const r = await rawRequest(
    live.port,
    [
      'POST /v1/models/digits/predict HTTP/1.1',
      'Host: x',
      'Connection: close',
      'Content-Type: application/json',
      `Content-Length: ${body.length}`,
      `Authorization: Bearer ${h.adminKey}`,
    ].join('\r\n'),
    [body],
  );
  return r.status;
}

describe('hostile fuzzing of a live API over sockets', () => {
  it(`${RUNS} requests: the process stays up, no undocumented 5xx, one error shape, bounded memory and tensors`, async () => {
    expect(await predictOnce()).toBe(200);
    const tensorsBefore = await scrapeTensors();
    const rssBefore = live.rssMiB();
    await fc.assert(fc.asyncProperty(hostileRequest, send), { numRuns: RUNS, seed: SEED, endOnFailure: true });
    expect(await predictOnce()).toBe(200);
    expect(await scrapeTensors()).toBe(tensorsBefore);
    expect(live.rssMiB() - rssBefore).toBeLessThan(200);
    expect((await rawRequest(live.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close')).status).toBe(200);
  });

  it('concurrent duplicates on every unique name: 201/202 or 409, never a 5xx', async () => {
    const post = (path: string, body: unknown, extra: string[] = []) => {
      const text = JSON.stringify(body);
      return rawRequest(
        live.port,
        [
          `POST ${path} HTTP/1.1`,
          'Host: x',
          'Connection: close',
          'Content-Type: application/json',
          `Content-Length: ${Buffer.byteLength(text)}`,
          `Authorization: Bearer ${h.adminKey}`,
          ...extra,
        ].join('\r\n'),
        [text],
      );
    };
    for (let round = 0; round < 5; round++) {
      const experiments = await Promise.all(Array.from({ length: 8 }, () => post('/v1/experiments', { name: `dup-${round}` })));
      expect(experiments.map((a) => a.status).sort()).toEqual([201, 409, 409, 409, 409, 409, 409, 409]);
      const models = await Promise.all(
        Array.from({ length: 8 }, () => post('/v1/models', { name: `dup-model-${round}`, jobId: knownBodyValues.jobId[0] })),
      );
      expect(models.map((a) => a.status)).toEqual(Array(8).fill(201));
      expect(new Set(models.map((a) => a.json.version)).size).toBe(8);
      const jobs = await Promise.all(
        Array.from({ length: 8 }, () =>
          post('/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: round }) }, [`Idempotency-Key: dup-${round}`]),
        ),
      );
      expect(
        jobs.every((a) => a.status === 202 || a.status === 409),
        JSON.stringify(jobs.map((a) => a.status)),
      ).toBe(true);
      expect(new Set(jobs.filter((a) => a.status === 202).map((a) => a.json.id)).size).toBe(1);
      sent += 24;
    }
    await waitFor(
      'the API to be healthy',
      async () => (await rawRequest(live.port, 'GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close')).status === 200,
      5000,
    );
  });
});
