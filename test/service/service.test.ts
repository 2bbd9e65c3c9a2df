/** The service through its HTTP API only, against real Redis, PostgreSQL and a worker process. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { startHarness, api, waitFor, type Harness } from './harness.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

const tinyModel = { convLayers: 3, filters: 8, hidden: 32, codeSize: 16, contextSize: 32 };
const tinyConfig = (extra: Record<string, unknown> = {}) => ({
  imageSize: 28,
  color: 'grey',
  greySteps: 0,
  batchSize: 16,
  epochs: 1,
  stepsPerEpoch: 8,
  validationSteps: 2,
  model: tinyModel,
  ...extra,
});

function expectErrorBody(body: any) {
  expect(body).toMatchObject({ error: expect.any(String), message: expect.any(String), requestId: expect.any(String) });
}

describe('cpc-service over HTTP', () => {
  it('is live and ready', async () => {
    expect((await api(h, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await api(h, 'GET', '/readyz')).json).toMatchObject({ status: 'ready', postgres: 'ok', redis: 'ok' });
  });

  it('rejects bad input with 4xx and a clear error body', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/v1/experiments', '{"name": ', 400],
      ['POST', '/v1/experiments', { name: 'x', unknown: 1 }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { epochs: 'many' } }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { learningRate: 5 } }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { batchSize: 16, positiveFraction: 1 } }, 400],
      ['POST', '/v1/jobs', { kind: 'gan' }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', experimentId: '00000000-0000-4000-8000-000000000000' }, 404],
      ['GET', '/v1/jobs/nope', undefined, 404],
      ['GET', '/v1/jobs/bad%20id', undefined, 400],
      ['GET', '/v1/experiments/not-a-uuid', undefined, 400],
      ['GET', '/v1/nothing-here', undefined, 404],
    ];
    for (const [method, path, body, status] of cases) {
      const r = await api(h, method, path, body);
      expect(r.status, `${method} ${path} ${JSON.stringify(body)}`).toBe(status);
      expectErrorBody(r.json);
    }
  });

  it('trains a job end to end: progress, metrics, artifacts with matching sha256, idempotent resubmission', async () => {
    const exp = await api(h, 'POST', '/v1/experiments', { name: 'e2e', description: 'integration test' });
    expect(exp.status).toBe(201);
    expect((await api(h, 'POST', '/v1/experiments', { name: 'e2e' })).status).toBe(409);
    const body = { kind: 'cpc', experimentId: exp.json.id, config: tinyConfig() };
    const first = await api(h, 'POST', '/v1/jobs', body, { 'idempotency-key': 'e2e-1' });
    expect(first.status).toBe(202);
    expect(first.json).toMatchObject({ status: 'queued', kind: 'cpc', totalSteps: 8, seed: 0 });
    const again = await api(h, 'POST', '/v1/jobs', body, { 'idempotency-key': 'e2e-1' });
    expect(again.status).toBe(202);
    expect(again.json.id).toBe(first.json.id);
    const conflict = await api(h, 'POST', '/v1/jobs', { ...body, priority: 3 }, { 'idempotency-key': 'e2e-1' });
    expect(conflict.status).toBe(422);

    const id = first.json.id;
    const done = await waitFor('job to succeed', async () => {
      const r = await api(h, 'GET', `/v1/jobs/${id}`);
      if (r.json.status === 'failed') throw new Error(`job failed: ${r.json.error}\n${h.workerLog.join('')}`);
      return r.json.status === 'succeeded' && r.json;
    });
    expect(done).toMatchObject({ progress: 1, step: 8, attempts: 1, backend: 'wasm' });
    expect(done.result.test.chance).toBe(0.5);
    expect(done.latestMetrics.map((m: any) => `${m.split}/${m.name}`)).toEqual(expect.arrayContaining(['train/loss', 'valid/accuracy', 'test/accuracy']));

    const metrics = await api(h, 'GET', `/v1/jobs/${id}/metrics?name=loss&split=train`);
    expect(metrics.json.items.map((m: any) => m.step)).toEqual([2, 4, 6, 8]);

    const names = done.artifacts.map((a: any) => a.name).sort();
    expect(names).toEqual(['checkpoint/checkpoint.bin', 'checkpoint/checkpoint.json', 'encoder/model.json', 'encoder/weights.bin', 'manifest.json']);
    for (const a of done.artifacts) {
      const res = await fetch(`${h.baseUrl}/v1/artifacts/${a.id}`);
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(200);
      expect(res.headers.get('x-checksum-sha256')).toBe(a.sha256);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.sha256);
      expect(bytes.length).toBe(a.bytes);
    }
    const listed = await api(h, 'GET', `/v1/jobs?experimentId=${exp.json.id}&status=succeeded`);
    expect(listed.json.items.map((j: any) => j.id)).toEqual([id]);
  });

  it('cancels a running and a queued job; the worker is free again afterwards', async () => {
    const long = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ epochs: 200, stepsPerEpoch: 10 }) });
    const waiting = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 9 }) });
    await waitFor('long job to run', async () => {
      const r = await api(h, 'GET', `/v1/jobs/${long.json.id}`);
      return r.json.status === 'running' && r.json.step > 0;
    });
    const queuedCancel = await api(h, 'POST', `/v1/jobs/${waiting.json.id}/cancel`);
    expect(queuedCancel.status).toBe(202);
    expect(queuedCancel.json.status).toBe('cancelled');
    const runningCancel = await api(h, 'POST', `/v1/jobs/${long.json.id}/cancel`);
    expect(runningCancel.status).toBe(202);
    const cancelled = await waitFor('running job to stop', async () => {
      const r = await api(h, 'GET', `/v1/jobs/${long.json.id}`);
      return r.json.status === 'cancelled' && r.json;
    }, 30_000);
    expect(cancelled.step).toBeLessThan(2000);
    expect((await api(h, 'POST', `/v1/jobs/${long.json.id}/cancel`)).status).toBe(409);

    const next = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 4 }) });
    await waitFor('the next job to succeed', async () => (await api(h, 'GET', `/v1/jobs/${next.json.id}`)).json.status === 'succeeded');
  });
});
