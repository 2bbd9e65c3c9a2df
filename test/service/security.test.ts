/**
 * Hostile and careless clients: bad input of every kind answered with a 4xx
 * and a clear error body, API keys and scopes, rate limits shared across
 * replicas, security headers, request timeouts, Idempotency-Key semantics,
 * no secrets in logs.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { join } from 'node:path';
import { startHarness, api, authHeader, waitFor, type Harness } from './harness.js';
import { pngDeclaring } from './crafted-pngs.js';
import { tinyConfig, trainDigitsModel } from './fixtures.js';
import { buildApp } from '../../src/api/app.js';
import { loadConfig } from '../../src/config.js';
import { createApiKey, revokeApiKey } from '../../src/store/api-keys.js';
import { routeNeeds } from '../../src/api/plugins/auth.js';
import { idempotencyLockKey } from '../../src/api/idempotency.js';
import { loadDataset } from '../../src/cpc/load-dataset.js';
import { digitPixels } from '../../src/cpc/images.js';
import { encodePng } from '../../src/cpc/png.js';

const RATE_LIMIT = 40;
let h: Harness;
let keys: { read: string; write: string };
let cpcJobId = '';
let failedJobId = '';

const root = join(import.meta.dirname, '..', '..');

beforeAll(async () => {
  h = await startHarness({ env: { AUTH_CACHE_MS: '0' } });
  // read and write keys of the admin key's owner, so that they see what the tests make through api()
  keys = {
    read: (await createApiKey(h.app.db, 'reader', ['read'], h.owner.name)).key,
    write: (await createApiKey(h.app.db, 'writer', ['write'], h.owner.name)).key,
  };
  // a model to send images to
  ({ cpcJobId } = await trainDigitsModel(h));
  // and a failed CPC job
  const bad = await h.app.db.job.create({
    data: {
      id: 'job_failed_for_test',
      ownerId: h.owner.id,
      kind: 'cpc',
      config: {},
      configHash: 'x',
      seed: 0,
      status: 'failed',
      error: 'test',
    },
  });
  failedJobId = bad.id;
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

function expectError(r: { status: number; json: any }, status: number, message?: RegExp) {
  expect(r.status).toBe(status);
  expect(r.json).toMatchObject({
    error: expect.any(String),
    code: expect.stringMatching(/^[a-z_]+$/),
    message: expect.any(String),
    requestId: expect.any(String),
  });
  if (message) expect(r.json.message).toMatch(message);
}

const digitPng = () => {
  const split = loadDataset().splits.test;
  const pixels = digitPixels(split, 0);
  return Buffer.from(encodePng(28, 28, Uint8Array.from(Array.from(pixels).flatMap((v) => [v, v, v]))));
};

describe('bad input is a 4xx with a clear error body', () => {
  it('rejects malformed, mistyped, unknown, out-of-range and oversized requests', async () => {
    const bearer = { authorization: `Bearer ${keys.write}` };
    const predict = (body: unknown) => api(h, 'POST', '/v1/models/digits/predict', body, { authorization: `Bearer ${keys.read}` });
    expectError(await api(h, 'POST', '/v1/jobs', '{"kind": "cpc",', bearer), 400);
    expectError(await api(h, 'POST', '/v1/jobs', 'kind=cpc', { ...bearer, 'content-type': 'application/x-www-form-urlencoded' }), 415);
    // no silent coercion: "5" is not 5, and unknown fields are rejected, not stripped
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', priority: '5' }, bearer), 400, /priority|integer/);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: { epochs: '2' } }, bearer), 400);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', colour: 'red' }, bearer), 400);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: { batchSize: 1_000_000 } }, bearer), 400, /batchSize/);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: { learningRate: -1 } }, bearer), 400, /learningRate/);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc', priority: 1000 }, bearer), 400);
    expectError(await api(h, 'GET', '/v1/jobs?limit=abc'), 400);
    expectError(await api(h, 'GET', '/v1/jobs?limit=5&extra=1'), 400);
    expectError(await api(h, 'GET', '/v1/jobs/job_does_not_exist'), 404);
    expectError(await api(h, 'GET', '/v1/artifacts/00000000-0000-4000-8000-000000000000'), 404);
    expectError(await api(h, 'POST', '/v1/jobs/job_does_not_exist/cancel', undefined, bearer), 404);
    // a probe needs a succeeded CPC job
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'probe', cpcJobId: failedJobId }, bearer), 409, /failed/);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'probe', cpcJobId: 'job_nope' }, bearer), 404);
    // predict: shapes, values, images
    expectError(await predict({ instances: [] }), 400);
    expectError(await predict({ instances: [[[1, 2], [3]]] }), 400);
    expectError(await predict({ instances: [Array.from({ length: 28 }, () => Array(28).fill('NaN'))] }), 400);
    expectError(await predict({ instances: [Array.from({ length: 28 }, () => Array(28).fill(1e300))] }), 400);
    expectError(await predict({ instances: [Array.from({ length: 5 }, () => Array(5).fill(0))] }), 400, /28|size/);
    expectError(await predict({ instances: Array.from({ length: 257 }, () => ({ png: 'AAAA' })) }), 400);
    expectError(await predict({ instances: [{ png: Buffer.from('not a png at all').toString('base64') }] }), 400, /PNG/i);
    expectError(await predict({ instances: [{ png: digitPng().subarray(0, 60).toString('base64') }] }), 400);
    expectError(await predict({ instances: [{ png: 'this is not base64!!' }] }), 400);
    const bomb = pngDeclaring(20_000, 20_000);
    expect(bomb.length).toBeLessThan(100);
    const started = Date.now();
    expectError(await predict({ instances: [{ png: bomb.toString('base64') }] }), 400, /20000/);
    expect(Date.now() - started).toBeLessThan(1000);
    expectError(
      await api(
        h,
        'POST',
        '/v1/models/nope/predict',
        { instances: [{ png: digitPng().toString('base64') }] },
        { authorization: `Bearer ${keys.read}` },
      ),
      404,
    );
    // and a well-formed one still works
    const ok = await predict({ instances: [{ png: digitPng().toString('base64') }] });
    expect(ok.status).toBe(200);
  });

  it('rejects oversized bodies and uploads with 413', async () => {
    const big = JSON.stringify({ instances: [{ png: 'A'.repeat(9 * 1024 * 1024) }] });
    expectError(await api(h, 'POST', '/v1/models/digits/predict', big, { authorization: `Bearer ${keys.read}` }), 413);
    const form = new FormData();
    form.append('image', new Blob([Buffer.alloc(3 * 1024 * 1024)]), 'big.png');
    const res = await fetch(`${h.baseUrl}/v1/models/digits/predict`, {
      method: 'POST',
      body: form,
      headers: { authorization: `Bearer ${keys.read}` },
    });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      error: expect.any(String),
      message: expect.stringMatching(/exceeds/),
      requestId: expect.any(String),
    });
  });

  it('Idempotency-Key: same body -> same job, different body -> 422, while the first is in flight -> 409', async () => {
    const body = { kind: 'cpc', config: tinyConfig({ seed: 77 }) };
    const headers = { authorization: `Bearer ${keys.write}`, 'idempotency-key': 'sec-1' };
    const first = await api(h, 'POST', '/v1/jobs', body, headers);
    expect(first.status).toBe(202);
    const same = await api(h, 'POST', '/v1/jobs', body, headers);
    expect(same.status).toBe(202);
    expect(same.json.id).toBe(first.json.id);
    expectError(await api(h, 'POST', '/v1/jobs', { ...body, priority: 1 }, headers), 422, /different request body/);
    // a request with this key is being served (its lock is held)
    const lock = idempotencyLockKey(h.config.QUEUE_PREFIX, `${h.owner.id}:sec-2`);
    execFileSync('redis-cli', ['-u', h.config.REDIS_URL, 'set', lock, 'someone-else', 'PX', '10000']);
    expectError(await api(h, 'POST', '/v1/jobs', body, { ...headers, 'idempotency-key': 'sec-2' }), 409, /in progress/);
    execFileSync('redis-cli', ['-u', h.config.REDIS_URL, 'del', lock]);
    expect((await api(h, 'POST', '/v1/jobs', body, { ...headers, 'idempotency-key': 'sec-2' })).status).toBe(202);
    // concurrent duplicates: one job, every answer 202 or 409
    const answers = await Promise.all(
      Array.from({ length: 20 }, () => api(h, 'POST', '/v1/jobs', body, { ...headers, 'idempotency-key': 'sec-3' })),
    );
    expect(answers.every((a) => a.status === 202 || a.status === 409)).toBe(true);
    expect(new Set(answers.filter((a) => a.status === 202).map((a) => a.json.id)).size).toBe(1);
    expect(await h.app.db.job.count({ where: { idempotencyKey: 'sec-3' } })).toBe(1);
  });

  it('answers 503 with a clear body when a handler takes longer than REQUEST_TIMEOUT_MS, with or without a request body', async () => {
    const slow = await buildApp({ ...h.config, REQUEST_TIMEOUT_MS: 1 }, { logger: false });
    try {
      const r = await slow.inject({ method: 'GET', url: '/v1/jobs?limit=200', headers: authHeader(h) });
      expect(r.statusCode).toBe(503);
      expect(r.json()).toMatchObject({
        error: 'Service Unavailable',
        message: expect.stringMatching(/timed out/),
        requestId: expect.any(String),
      });
    } finally {
      await slow.close();
    }
    // over a real socket, a handler slower than the limit after its POST body has arrived: Fastify's own
    // handlerTimeout stopped its timer when the body ended (Node's 'close' on the request) and answered 200
    const app = await buildApp({ ...h.config, REQUEST_TIMEOUT_MS: 150 }, { logger: false });
    let finished = false;
    let deadlineAborted = false;
    app.post('/test-slow-handler', { schema: { body: { type: 'object', properties: { x: { type: 'number' } } } } }, async (req) => {
      await new Promise((resolve) => setTimeout(resolve, 600));
      deadlineAborted = req.handlerDeadline?.aborted === true;
      finished = true;
      return { late: true };
    });
    try {
      await app.listen({ host: '127.0.0.1', port: 0 });
      const port = (app.server.address() as { port: number }).port;
      const post = await fetch(`http://127.0.0.1:${port}/test-slow-handler`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ x: 1 }),
      });
      expect(post.status).toBe(503);
      expect(await post.json()).toMatchObject({ message: expect.stringMatching(/timed out after 150 ms/) });
      expect(finished).toBe(false); // answered before the handler was done
    } finally {
      await app.close();
    }
    // work that listens to req.handlerDeadline (predictions) is told to stop
    await waitFor('the slow handler to end', async () => finished, 5000);
    expect(deadlineAborted).toBe(true);
  });
});

describe('API keys', () => {
  it('are required for every /v1 route by default, with scopes; anonymous reads only when configured', async () => {
    const none = { authorization: '' };
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc' }, none), 401, /API key is required/);
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc' }, { authorization: `Bearer ${keys.read}` }), 403, /write scope/);
    expectError(
      await api(h, 'POST', '/v1/jobs', { kind: 'cpc' }, { authorization: 'Bearer cpc_000000000000_' + 'A'.repeat(43) }),
      401,
      /not valid/,
    );
    expectError(await api(h, 'POST', '/v1/jobs', { kind: 'cpc' }, { authorization: 'Bearer nonsense' }), 401);
    expectError(await api(h, 'POST', '/v1/models/digits/predict', { instances: [{ png: 'AAAA' }] }, none), 401);
    const artifact = await h.app.db.artifact.findFirstOrThrow({ where: { jobId: cpcJobId } });
    expectError(await api(h, 'GET', `/v1/artifacts/${artifact.id}`, undefined, none), 401);
    expect((await api(h, 'GET', `/v1/artifacts/${artifact.id}`, undefined, { 'x-api-key': keys.read })).status).toBe(200);
    expectError(await api(h, 'GET', '/v1/jobs', undefined, none), 401, /API key is required/);
    expect((await api(h, 'GET', '/v1/jobs', undefined, { 'x-api-key': keys.read })).status).toBe(200);
    expect((await api(h, 'GET', '/healthz', undefined, none)).status).toBe(200);
    // a presented key is always checked
    expectError(await api(h, 'GET', '/v1/jobs', undefined, { authorization: 'Bearer wrong' }), 401);
    // READS_REQUIRE_KEY=false: anyone may read (every owner's resources), writes still need a key
    const open = await buildApp({ ...h.config, READS_REQUIRE_KEY: false }, { logger: false });
    try {
      expect((await open.inject({ method: 'GET', url: '/v1/jobs' })).statusCode).toBe(200);
      expect((await open.inject({ method: 'POST', url: '/v1/jobs', payload: { kind: 'cpc' } })).statusCode).toBe(401);
      // (ready once its own connections are up: on a busy machine that can take a moment)
      await waitFor(
        'the second app to be ready',
        async () => (await open.inject({ method: 'GET', url: '/readyz' })).statusCode === 200,
        30_000,
      );
    } finally {
      await open.close();
    }
    expect(routeNeeds('GET', '/v1/jobs', true)).toBe('read');
    expect(routeNeeds('GET', '/v1/jobs', false)).toBe('read-optional');
    expect(routeNeeds('POST', '/v1/models/:name/predict', false)).toBe('read');
    expect(routeNeeds('POST', '/v1/models/:name/versions/:ref/embed', false)).toBe('read');
    expect(routeNeeds('PUT', '/v1/models/:name/aliases/:alias', false)).toBe('write');
    expect(routeNeeds('DELETE', '/v1/models/:name/aliases/:alias', false)).toBe('write');
    expect(routeNeeds('POST', '/v1/models', false)).toBe('write');
    expect(routeNeeds('GET', '/readyz', true)).toBe('public');
  });

  it('the queue board at /admin/queues is for admin keys only; a browser gives the key as HTTP Basic', async () => {
    const get = (path: string, headers: Record<string, string> = {}) => fetch(`${h.baseUrl}${path}`, { headers });
    const none = await get('/admin/queues');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    // in the service's error shape, not bull-board's (its plugin has an error handler of its own)
    expect(await none.json()).toMatchObject({
      error: 'Unauthorized',
      message: expect.stringMatching(/API key/),
      requestId: expect.any(String),
    });
    for (const path of ['/admin/queues', '/admin/queues/api/queues', '/admin/nothing-here']) {
      const refused = await get(path, { authorization: `Bearer ${keys.write}` });
      expect([refused.status, ((await refused.json()) as { error: unknown }).error], path).toEqual([403, 'Forbidden']);
    }
    const basic = (key: string) => ({ authorization: `Basic ${Buffer.from(`anyone:${key}`).toString('base64')}` });
    expect((await get('/admin/queues', basic('cpc_not_a_key'))).status).toBe(401);
    const page = await get('/admin/queues', basic(h.adminKey));
    expect(page.status).toBe(200);
    expect(await page.text()).toMatch(/<title>cpc-service queues<\/title>/);
    const api = await get('/admin/queues/api/queues?activeQueue=&status=latest&page=1', basic(h.adminKey));
    expect(api.status).toBe(200);
    const names = ((await api.json()) as { queues: Array<{ name: string }> }).queues.map((q) => q.name);
    expect(names.sort()).toEqual(['cpc-jobs', 'cpc-jobs-gpu', 'probe-jobs', 'probe-jobs-gpu']);
    expect((await get('/admin/queues/api/queues', { authorization: `Bearer ${h.adminKey}` })).status).toBe(200);
    expect(routeNeeds('GET', '/admin/queues', false)).toBe('admin');
  });

  it('are stored hashed, created and revoked with the CLI', async () => {
    const cli = (...args: string[]) =>
      execFileSync(process.execPath, [join(root, 'bin', 'cpc.js'), ...args], {
        env: { ...process.env, DATABASE_URL: h.config.DATABASE_URL },
        encoding: 'utf8',
        stdio: 'pipe',
      });
    const out = cli('keys', 'create', '--name', 'cli-made', '--scopes', 'write', '--json');
    const made = JSON.parse(out);
    expect(made).toMatchObject({ key: expect.stringMatching(/^cpc_[0-9a-f]{12}_/), name: 'cli-made', scopes: ['write'] });
    const row = await h.app.db.apiKey.findUniqueOrThrow({ where: { prefix: made.prefix } });
    expect(JSON.stringify(row)).not.toContain(made.key.slice('cpc_'.length + 13));
    expect((await api(h, 'POST', '/v1/experiments', { name: 'made-by-cli-key' }, { authorization: `Bearer ${made.key}` })).status).toBe(
      201,
    );
    const listed = JSON.parse(cli('keys', 'list', '--json')) as Array<{
      prefix: string;
      owner: { name: string };
      revokedAt: string | null;
    }>;
    expect(listed.find((k) => k.prefix === made.prefix)).toMatchObject({ owner: { name: 'cli-made' }, revokedAt: null });
    expect(cli('keys', 'list')).toMatch(new RegExp(`^${made.prefix}\\s+cli-made\\s+cli-made\\s+write\\s`, 'm'));
    expect(JSON.parse(cli('keys', 'revoke', made.prefix, '--json'))).toEqual({ revoked: made.prefix });
    expectError(await api(h, 'POST', '/v1/experiments', { name: 'after-revoke' }, { authorization: `Bearer ${made.key}` }), 401);
    const owners = await h.app.db.owner.count();
    for (const [args, flag] of [
      [['--name', 'x', '--scopes', 'root'], /--scopes/],
      [['--name', ' '], /--name/],
      [['--name', 'two words'], /--owner \(by default the --name\)/],
      [['--name', 'ok', '--owner', ''], /--owner/],
      [['--name', 'evil\nname\u001b[31mRED', '--owner', 'alice'], /--name must be 1-200 printable/],
      [['--name', 'evil\u202ename', '--owner', 'alice'], /--name must be 1-200 printable/],
    ] as const) {
      const bad = (() => {
        try {
          cli('keys', 'create', ...args);
          return null;
        } catch (err) {
          return err as { status: number; stderr: Buffer };
        }
      })();
      expect(bad?.status, args.join(' ')).toBe(2);
      expect(String(bad?.stderr)).toMatch(flag);
    }
    expect(await h.app.db.owner.count()).toBe(owners);
    // a missing argument is a usage error like any other: exit 2
    expect(() => cli('keys', 'revoke', '--json')).toThrow(expect.objectContaining({ status: 2 }));
  });
});

describe('rate limits, headers, logs', () => {
  it('limits each key per minute across API replicas (counted in Redis) and answers 429 with the error body', async () => {
    const { key } = await createApiKey(h.app.db, 'limited', ['read']);
    const other = (await createApiKey(h.app.db, 'other', ['read'])).key;
    // two API replicas with a small limit, sharing one Redis
    const replicas = [
      await buildApp({ ...h.config, RATE_LIMIT_PER_MIN: RATE_LIMIT }, { logger: false }),
      await buildApp({ ...h.config, RATE_LIMIT_PER_MIN: RATE_LIMIT }, { logger: false }),
    ];
    const get = async (i: number, k: string, url = '/v1/jobs?limit=1') => {
      const x = await replicas[i % 2].inject({ method: 'GET', url, headers: { authorization: `Bearer ${k}` } });
      return { status: x.statusCode, json: x.json() };
    };
    try {
      const statuses: number[] = [];
      for (let i = 0; i < RATE_LIMIT + 5; i++) {
        const r = await get(i, key);
        statuses.push(r.status);
        if (r.status === 429) expectError(r, 429, /rate limit/);
      }
      expect(statuses.filter((s) => s === 200).length).toBe(RATE_LIMIT);
      expect(statuses.slice(RATE_LIMIT).every((s) => s === 429)).toBe(true);
      expect((await get(0, other)).status).toBe(200);
      expect((await get(1, key, '/healthz')).status).toBe(200);
    } finally {
      await Promise.all(replicas.map((r) => r.close()));
    }
    await revokeApiKey(h.app.db, key.split('_')[1]);
  });

  it('sends security headers', async () => {
    const r = await api(h, 'GET', '/v1/jobs?limit=1');
    expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    expect(r.headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(r.headers.get('strict-transport-security')).toMatch(/max-age/);
    expect(r.headers.get('x-powered-by')).toBeNull();
  });

  it('logs carry the request id on every request line and never an API key', async () => {
    const lines: string[] = [];
    const stream = new Writable({ write: (chunk, _enc, done) => (lines.push(String(chunk)), done()) });
    const logged = await buildApp({ ...loadConfig(h.env), LOG_LEVEL: 'info' }, { logStream: stream });
    try {
      await logged.inject({
        method: 'POST',
        url: '/v1/experiments',
        headers: { authorization: `Bearer ${keys.write}`, 'x-request-id': 'req-log-1' },
        payload: { name: 'logged' },
      });
      await logged.inject({
        method: 'POST',
        url: '/v1/experiments',
        headers: { 'x-api-key': keys.read, 'x-request-id': 'req-log-2' },
        payload: { name: 'logged-2' },
      });
      await logged.inject({ method: 'GET', url: '/v1/jobs/nope', headers: { 'x-api-key': keys.read, 'x-request-id': 'req-log-3' } });
    } finally {
      await logged.close();
    }
    const text = lines.join('');
    for (const key of Object.values(keys)) expect(text).not.toContain(key.slice('cpc_'.length + 13));
    const requestLines = lines.map((l) => JSON.parse(l)).filter((l) => l.req || l.res || /request/.test(l.msg ?? ''));
    expect(requestLines.length).toBeGreaterThanOrEqual(6);
    for (const l of requestLines) expect(l.reqId).toMatch(/^req-log-\d$/);
  });
});
