/**
 * Experiments as the unit users poll, over HTTP against real Redis, PostgreSQL and a worker:
 * a sweep that probes each point, the experiment's aggregate status and the comparison.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startHarness, api, waitFor, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';

let h: Harness;
let experimentId = '';

beforeAll(async () => {
  h = await startHarness();
  const created = await api(h, 'POST', '/v1/experiments', { name: 'code sizes' });
  expect(created.status).toBe(201);
  experimentId = created.json.id;
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const sweep = (body: object, headers: Record<string, string> = {}) =>
  api(h, 'POST', `/v1/experiments/${experimentId}/sweeps`, body, headers);
const base = { config: tinyConfig({ stepsPerEpoch: 6 }) };
const probe = { trainImages: 300, testImages: 200, epochs: 1 };

describe('experiments', () => {
  it('an experiment without jobs is empty', async () => {
    const r = await api(h, 'GET', `/v1/experiments/${experimentId}`);
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      name: 'code sizes',
      status: 'empty',
      jobCount: 0,
      progress: 0,
      startedAt: null,
      finishedAt: null,
      jobs: [],
    });
    expect((await api(h, 'GET', `/v1/experiments/${experimentId}/compare`)).json).toMatchObject({ metric: null, rows: [], best: null });
  });

  it('refuses a bad sweep naming what is wrong, and submits nothing', async () => {
    const cases: Array<[object, RegExp]> = [
      [
        { base, grid: { learningRate: [0.001] }, random: { trials: 1, space: { seed: { values: [1] } } } },
        /exactly one of grid and random/,
      ],
      [{ base }, /exactly one of grid and random/],
      [{ base, grid: {} }, /at least one field/],
      [{ base, grid: { learningRate: [0.001, 0.002, 0.003], seed: [1, 2] }, maxJobs: 5 }, /the grid has 6 points, over maxJobs 5/],
      [{ base, random: { trials: 30, space: { seed: { min: 0, max: 9, integer: true } } } }, /30 trials is over maxJobs 20/],
      [{ base, grid: { epoch: [1, 2] } }, /sweep field "epoch" is not a config field; did you mean "epochs"\?/],
      [{ base, grid: { learningRate: [0.001, -1] } }, /sweep point 1 \({"learningRate":-1}\): .*learningRate/],
      [{ base, grid: { 'model.nope': [1] } }, /"model.nope" is not a config field/],
      [{ base, grid: { model: [5] } }, /"model" is not a config field/],
      [{ base, grid: { workers: [2] } }, /"workers" is not a config field/],
      [{ base, grid: { '1abc': 5 } }, /"1abc" is not a config field/],
      [{ base, random: { trials: 1, space: { _x: { values: [] } } } }, /"_x" is not a config field/],
      [{ base, grid: { seed: ['x'] } }, /sweep point 0 \({"seed":"x"}\): seed must be/],
      [{ base, random: { trials: 2, space: { greySteps: { min: 1.2, max: 1.8, integer: true } } } }, /no integer in \[1.2, 1.8\]/],
      [{ base, random: { trials: 2, space: { learningRate: { min: 0, max: 1, scale: 'log' } } } }, /log scale needs min > 0/],
      [{ base, grid: { learningRate: [0.001] }, probe: { trainImages: -1 } }, /trainImages/],
    ];
    for (const [body, message] of cases) {
      const r = await sweep(body);
      expect([r.status, r.json.message], JSON.stringify(body)).toEqual([400, expect.stringMatching(message)]);
    }
    expect((await api(h, 'GET', `/v1/experiments/${experimentId}`)).json.jobCount).toBe(0);
  });

  it('a grid sweep with probes: one job per point, each probed; the experiment sums them up and compares them', async () => {
    // a job of the experiment submitted by itself, without a probe
    expect((await api(h, 'POST', '/v1/jobs', { kind: 'cpc', experimentId, ...base })).status).toBe(202);
    const body = { base, grid: { 'model.codeSize': [8, 16] }, probe };
    const first = await sweep(body, { 'idempotency-key': 'code-sizes-1' });
    expect(first.status).toBe(202);
    expect(first.json.points.map((p: { values: object }) => p.values)).toEqual([{ 'model.codeSize': 8 }, { 'model.codeSize': 16 }]);
    // the same request again answers the same jobs
    const again = await sweep(body, { 'idempotency-key': 'code-sizes-1' });
    expect(again.json.points.map((p: { jobId: string }) => p.jobId)).toEqual(first.json.points.map((p: { jobId: string }) => p.jobId));
    const job = await api(h, 'GET', `/v1/jobs/${first.json.points[0].jobId}`);
    expect(job.json).toMatchObject({
      experimentId,
      config: { model: { codeSize: 8 } },
      pendingProbe: { trainImages: 300, testImages: 200 },
    });

    // 3 CPC jobs and 2 probes, all succeeded
    const done = await waitFor(
      'the sweep and its probes',
      async () => {
        const r = await api(h, 'GET', `/v1/experiments/${experimentId}`);
        return r.json.byKind.probe === 2 && r.json.status === 'succeeded' ? r : null;
      },
      240_000,
    );
    expect(done.json).toMatchObject({
      jobCount: 5,
      byStatus: { succeeded: 5, queued: 0, running: 0, failed: 0, cancelled: 0 },
      byKind: { cpc: 3, probe: 2 },
      progress: 1,
      startedAt: expect.any(String),
      finishedAt: expect.any(String),
    });
    const cpcJob = done.json.jobs.find((j: { id: string }) => j.id === first.json.points[0].jobId);
    expect(cpcJob.pendingProbe).toBeNull();
    expect(cpcJob.latestMetrics).toContainEqual(expect.objectContaining({ split: 'test', name: 'accuracy', goal: 'max' }));
    const bestLoss = cpcJob.bestMetrics.find((m: { split: string; name: string }) => m.split === 'train' && m.name === 'loss');
    const trainLoss = (await api(h, 'GET', `/v1/jobs/${cpcJob.id}/metrics?split=train&name=loss`)).json.items;
    expect(bestLoss).toMatchObject({ goal: 'min', value: Math.min(...trainLoss.map((m: { value: number }) => m.value)) });
    const probeJob = done.json.jobs.find((j: { parentJobId: string }) => j.parentJobId === cpcJob.id);
    expect(probeJob).toMatchObject({ kind: 'probe', experimentId, config: { trainImages: 300, testImages: 200, seed: cpcJob.seed } });

    const c = await api(h, 'GET', `/v1/experiments/${experimentId}/compare`);
    expect(c.status).toBe(200);
    expect(c.json).toMatchObject({ metric: 'probe/cpc_mlp_accuracy', goal: 'max', differing: ['model.codeSize'] });
    const ranked = c.json.rows.filter((r: { rank: number | null }) => r.rank !== null);
    expect(ranked.map((r: { rank: number }) => r.rank)).toEqual([1, 2]);
    expect(ranked[0].values['probe/cpc_mlp_accuracy']).toBeGreaterThanOrEqual(ranked[1].values['probe/cpc_mlp_accuracy']);
    expect(c.json.best).toEqual({
      jobId: ranked[0].jobId,
      value: ranked[0].values['probe/cpc_mlp_accuracy'],
      config: { 'model.codeSize': ranked[0].config.model.codeSize },
    });
    // the job without a probe is listed, unranked, last
    expect(c.json.rows.at(-1)).toMatchObject({ rank: null, probeJobIds: [] });
    // a job's metric history, page by page: the pages add up to the whole, and the last says so
    const whole = (await api(h, 'GET', `/v1/jobs/${cpcJob.id}/metrics?limit=10000`)).json;
    expect(whole.nextCursor).toBeNull();
    const paged: unknown[] = [];
    let cursor: string | null = '';
    for (let pages = 0; cursor !== null; pages++) {
      expect(pages).toBeLessThan(100);
      const page: { items: unknown[]; nextCursor: string | null } = (
        await api(h, 'GET', `/v1/jobs/${cpcJob.id}/metrics?limit=7${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`)
      ).json;
      paged.push(...page.items);
      cursor = page.nextCursor;
    }
    expect(paged).toEqual(whole.items);
    expect(whole.items.length).toBeGreaterThan(7);
    for (const forged of [
      'nonsense',
      ...[
        [2147483648, 'train', 'x'],
        [1e20, 'train', 'x'],
        [-5, 'train', 'x'],
        [2, 'tr\u0000ain', 'x'],
        [2, 'train', 'x'.repeat(101)],
      ].map((c) => Buffer.from(JSON.stringify(c)).toString('base64url')),
    ]) {
      const bad = await api(h, 'GET', `/v1/jobs/${cpcJob.id}/metrics?cursor=${forged}`);
      expect([bad.status, bad.json.message], forged).toEqual([400, expect.stringMatching(/not a cursor this API gave/)]);
    }
    const byTest = await api(h, 'GET', `/v1/experiments/${experimentId}/compare?metric=test/loss`);
    expect(byTest.json).toMatchObject({ metric: 'test/loss', goal: 'min' });
    expect(byTest.json.rows.map((r: { rank: number }) => r.rank)).toEqual([1, 2, 3]);
  }, 300_000);

  it('sweep keys are their own: a job may not take one, and the same key with another sweep is 422, submitting nothing', async () => {
    const reserved = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', ...base }, { 'idempotency-key': 'sweep:x' });
    expect([reserved.status, reserved.json.message]).toEqual([400, expect.stringMatching(/reserved for the points of sweeps/)]);
    const before = (await api(h, 'GET', `/v1/experiments/${experimentId}`)).json.jobCount;
    const first = await sweep({ base, grid: { seed: [11] } }, { 'idempotency-key': 'k' });
    expect(first.status).toBe(202);
    const other = await sweep({ base, grid: { seed: [11, 12] } }, { 'idempotency-key': 'k' });
    expect([other.status, other.json.message]).toEqual([422, 'this Idempotency-Key was used with a different sweep']);
    // a job with what would have been a point's key is another job
    expect((await api(h, 'POST', '/v1/jobs', { kind: 'cpc', experimentId, ...base }, { 'idempotency-key': 'k#1' })).status).toBe(202);
    expect((await api(h, 'GET', `/v1/experiments/${experimentId}`)).json.jobCount).toBe(before + 2);
    for (const id of [first.json.points[0].jobId]) await api(h, 'POST', `/v1/jobs/${id}/cancel`);
  });

  it('compare refuses a metric that is not <split>/<name>; says whether it read every job', async () => {
    for (const metric of ['constructor', '__proto__', 'nope/x', 'test/accuracy;drop'])
      expect((await api(h, 'GET', `/v1/experiments/${experimentId}/compare?metric=${encodeURIComponent(metric)}`)).status, metric).toBe(
        400,
      );
    expect((await api(h, 'GET', `/v1/experiments/${experimentId}/compare`)).json.truncated).toBe(false);
  });

  it('validation errors name the field and what it may be', async () => {
    const cases: Array<[string, string, unknown, string]> = [
      ['POST', '/v1/jobs', { kind: 'cpc', config: { epoch: 5 } }, 'body/config has an unknown field "epoch"; did you mean "epochs"?'],
      ['POST', '/v1/jobs', { kind: 'cnn' }, 'body/kind must be one of cpc, probe, not "cnn"'],
      ['POST', '/v1/jobs', { config: {} }, 'body needs "kind" (one of cpc, probe)'],
      ['POST', '/v1/jobs', { kind: 'probe' }, "body must have required property 'cpcJobId'"],
      ['POST', '/v1/jobs', { kind: 'cpc', device: 'tpu' }, 'body/device must be one of any, gpu, cpu'],
      // a named choice given another type: its names, not the branches' types
      ['POST', '/v1/jobs', { kind: 'cpc', config: { similarity: null } }, 'body/config/similarity must be one of dot, cosine'],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { imageSize: 'big' } }, 'body/config/imageSize must be one of 28, 64'],
      ['GET', '/v1/jobs?status=done', undefined, 'querystring/status must be one of queued, running, succeeded, failed, cancelled'],
      // a union of shapes: every shape named, not only the first one's complaint
      [
        'POST',
        '/v1/models/nope/predict',
        { instances: [{ png: 5 }] },
        'body/instances/0 must be one of: 28x28 grey, values 0..255 (or 0..1); or size x size x 3 RGB, values 0..255; or an object with png',
      ],
      ['POST', '/v1/models/nope/predict', { instances: [[[1, 300]]] }, 'body/instances/0/0/1 must be <= 255'],
      // not an object at all: never a job (the discriminator looks at objects only)
      ['POST', '/v1/jobs', '[]', 'body must be object'],
      ['POST', '/v1/jobs', '5', 'body must be object'],
      ['POST', '/v1/jobs', 'null', 'body must be object'],
      ['POST', '/v1/jobs', '"cpc"', 'body must be object'],
    ];
    const jobsBefore = (await api(h, 'GET', '/v1/jobs')).json.total;
    for (const [method, path, body, message] of cases) {
      const r = await api(h, method, path, body);
      expect([r.status, r.json.message], JSON.stringify(body ?? path)).toEqual([400, message]);
    }
    expect((await api(h, 'GET', '/v1/jobs')).json.total).toBe(jobsBefore);
  });

  it('an unknown or foreign experiment is 404; a sweep on it submits nothing', async () => {
    const missing = '00000000-0000-4000-8000-000000000000';
    expect((await api(h, 'GET', `/v1/experiments/${missing}`)).status).toBe(404);
    expect((await api(h, 'GET', `/v1/experiments/${missing}/compare`)).status).toBe(404);
    expect((await api(h, 'POST', `/v1/experiments/${missing}/sweeps`, { base, grid: { seed: [1] } })).status).toBe(404);
  });
});
