/** The service through its HTTP API only, against real Redis, PostgreSQL and a worker process. */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash } from 'node:crypto';
import { startHarness, startServices, api, authHeader, waitFor, type Harness } from './harness.js';
import { infoWithWorker, tinyConfig } from './fixtures.js';
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadDataset } from '../../src/cpc/load-dataset.js';
import { digitPixels } from '../../src/cpc/images.js';
import { decodePng, encodePng } from '../../src/cpc/png.js';
import { PostgresArtifactStore } from '../../src/artifacts/store.js';
import { DEFAULT_OWNER_ID } from '../../src/store/owners.js';
import { createJob } from '../../src/store/jobs.js';

let h: Harness;
let cpcJobId = '';

beforeAll(async () => {
  h = await startHarness();
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

function expectErrorBody(body: any) {
  expect(body).toMatchObject({
    error: expect.any(String),
    code: expect.stringMatching(/^[a-z_]+$/),
    message: expect.any(String),
    requestId: expect.any(String),
  });
}

describe('cpc-service over HTTP', () => {
  it('is live and ready', async () => {
    expect((await api(h, 'GET', '/healthz')).json).toEqual({ status: 'ok' });
    expect((await api(h, 'GET', '/readyz')).json).toMatchObject({ status: 'ready', postgres: 'ok', redis: 'ok' });
    // what the service runs on: the harness's one worker, on wasm
    const info = await infoWithWorker(h);
    expect(info.json).toMatchObject({ version: expect.any(String), inference: { backend: 'wasm', threads: 1 } });
    expect(info.json.workers).toEqual([
      expect.objectContaining({
        queues: expect.arrayContaining(['cpc', 'probe']),
        backend: expect.objectContaining({ name: 'wasm', gpu: false }),
      }),
    ]);
    expect((await api(h, 'GET', '/v1/info', undefined, { authorization: '' })).status).toBe(401);
  });

  it('rejects bad input with 4xx and a clear error body', async () => {
    const cases: Array<[string, string, unknown, number]> = [
      ['POST', '/v1/experiments', '{"name": ', 400],
      ['POST', '/v1/experiments', { name: 'x', unknown: 1 }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { epochs: 'many' } }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { learningRate: 5 } }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { loss: 'binary', positiveFraction: 1 } }, 400],
      // a step too large to fit in memory (it once took a worker down for minutes)
      ['POST', '/v1/jobs', { kind: 'cpc', config: { batchSize: 256, terms: 16, predictTerms: 16 } }, 400],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { imageSize: 28, model: { convLayers: 4 } } }, 400],
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
    expect(
      (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: { batchSize: 256, terms: 16, predictTerms: 16 } })).json.message,
    ).toMatch(/step would be too large/);
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
    // InfoNCE over the batch's 16 x 4 future images, the target's class masked: chance about 1/58
    expect(done.result.test.chance).toBeGreaterThan(1 / 64);
    expect(done.result.test.chance).toBeLessThan(1 / 32);
    expect(done.latestMetrics.map((m: any) => `${m.split}/${m.name}`)).toEqual(
      expect.arrayContaining(['train/loss', 'valid/accuracy', 'test/accuracy']),
    );

    const metrics = await api(h, 'GET', `/v1/jobs/${id}/metrics?name=loss&split=train`);
    expect(metrics.json.items.map((m: any) => m.step)).toEqual([2, 4, 6, 8]);

    const names = done.artifacts.map((a: any) => a.name).sort();
    expect(names).toEqual([
      'checkpoint/checkpoint.bin',
      'checkpoint/checkpoint.json',
      'encoder/model.json',
      'encoder/weights.bin',
      'manifest.json',
      'plots/samples.png',
    ]);
    for (const a of done.artifacts) {
      const res = await fetch(`${h.baseUrl}/v1/artifacts/${a.id}`, { headers: authHeader(h) });
      const bytes = Buffer.from(await res.arrayBuffer());
      expect(res.status).toBe(200);
      expect(res.headers.get('x-checksum-sha256')).toBe(a.sha256);
      expect(createHash('sha256').update(bytes).digest('hex')).toBe(a.sha256);
      expect(bytes.length).toBe(a.bytes);
    }
    const listed = await api(h, 'GET', `/v1/jobs?experimentId=${exp.json.id}&status=succeeded`);
    expect(listed.json.items.map((j: any) => j.id)).toEqual([id]);
    cpcJobId = id;
  });

  it('probes a finished CPC job, registers the model and serves predictions above chance (JSON and PNG)', async () => {
    expect(cpcJobId).toBeTruthy();
    const bad = await api(h, 'POST', '/v1/jobs', { kind: 'probe', cpcJobId: 'job_missing' });
    expect(bad.status).toBe(404);
    const probe = await api(h, 'POST', '/v1/jobs', { kind: 'probe', cpcJobId, config: { trainImages: 1000, testImages: 200, epochs: 5 } });
    expect(probe.status).toBe(202);
    expect(probe.json).toMatchObject({ kind: 'probe', parentJobId: cpcJobId, status: 'queued' });
    const done = await waitFor('probe to succeed', async () => {
      const r = await api(h, 'GET', `/v1/jobs/${probe.json.id}`);
      if (r.json.status === 'failed') throw new Error(`probe failed: ${r.json.error}\n${h.workerLog.join('')}`);
      return r.json.status === 'succeeded' && r.json;
    });
    expect(done.result).toMatchObject({ trainImages: 1000, testImages: 200 });
    for (const source of ['cpc', 'randomEncoder', 'rawPixels']) expect(done.result[source].mlp).toBeGreaterThan(0.1);
    expect(done.latestMetrics.map((m: any) => m.name)).toContain('cpc_mlp_accuracy');

    expect((await api(h, 'POST', '/v1/models', { name: 'digits', jobId: cpcJobId })).status).toBe(422);
    const v1 = await api(h, 'POST', '/v1/models', { name: 'digits', jobId: probe.json.id });
    expect(v1.status).toBe(201);
    expect(v1.json).toMatchObject({ name: 'digits', version: 1, head: 'mlp', cpcJobId });
    const v2 = await api(h, 'POST', '/v1/models', { name: 'digits', jobId: probe.json.id, head: 'linear' });
    expect(v2.json.version).toBe(2);
    expect((await api(h, 'GET', '/v1/models')).json.items).toEqual([expect.objectContaining({ name: 'digits', version: 2 })]);
    expect((await api(h, 'GET', '/v1/models/digits/versions/1')).json.head).toBe('mlp');
    expect((await api(h, 'GET', '/v1/models/digits/versions/9')).status).toBe(404);

    // 50 known test digits, as JSON arrays and as PNGs
    const data = loadDataset().splits.test;
    const indices = Array.from({ length: 50 }, (_, i) => i);
    const grey = indices.map((i) => Array.from({ length: 28 }, (_, y) => Array.from(digitPixels(data, i).subarray(y * 28, y * 28 + 28))));
    const json = await api(h, 'POST', '/v1/models/digits/predict', { instances: grey, version: 1, embedding: true });
    expect(json.status).toBe(200);
    expect(json.json.version).toBe(1);
    const hits = json.json.predictions.filter((p: any, i: number) => p.label === data.labels[i]).length;
    expect(hits / 50).toBeGreaterThan(0.3);
    expect(json.json.predictions[0].embedding).toHaveLength(16);
    const pngs = indices.slice(0, 5).map((i) => ({
      png: encodePng(28, 28, Uint8Array.from(Array.from(digitPixels(data, i)).flatMap((v) => [v, v, v]))).toString('base64'),
    }));
    const viaPng = await api(h, 'POST', '/v1/models/digits/predict', { instances: pngs, version: 1 });
    expect(viaPng.json.predictions.map((p: any) => p.label)).toEqual(json.json.predictions.slice(0, 5).map((p: any) => p.label));
    const form = new FormData();
    indices
      .slice(0, 5)
      .forEach((i, k) => form.append(`image${k}`, new Blob([Buffer.from(pngs[k].png, 'base64')], { type: 'image/png' }), `${i}.png`));
    form.append('version', '1');
    const multipart = await fetch(`${h.baseUrl}/v1/models/digits/predict`, { method: 'POST', body: form, headers: authHeader(h) });
    const multipartJson = await multipart.json();
    expect(multipart.status).toBe(200);
    expect(multipartJson.predictions.map((p: any) => p.label)).toEqual(json.json.predictions.slice(0, 5).map((p: any) => p.label));
    const embed = await api(h, 'POST', '/v1/models/digits/embed', { instances: grey.slice(0, 2) });
    expect(embed.json.embeddings).toHaveLength(2);

    // the nearest training images of each (the probe's index): as many as asked, most similar first, labelled
    const near = await api(h, 'POST', '/v1/models/digits/predict', { instances: grey.slice(0, 10), version: 1, neighbours: 3 });
    expect(near.status).toBe(200);
    for (const p of near.json.predictions) {
      expect(p.neighbours).toHaveLength(3);
      expect(p.embedding).toBeUndefined();
      const [a, b, c] = p.neighbours.map((n: any) => n.similarity);
      expect(a >= b && b >= c).toBe(true);
      expect(decodePng(Buffer.from(p.neighbours[0].png, 'base64'))).toMatchObject({ width: 28, height: 28 });
      expect(p.neighbours[0].className).toBe(String(p.neighbours[0].label));
    }
    // (a trained encoder puts most digits next to training images of their own class)
    const sameClass = near.json.predictions.filter((p: any, i: number) => p.neighbours[0].label === data.labels[i]).length;
    expect(sameClass).toBeGreaterThan(2);
    const viaForm = new FormData();
    viaForm.append('image', new Blob([Buffer.from(pngs[0].png, 'base64')], { type: 'image/png' }), '0.png');
    viaForm.append('neighbours', '2');
    const formNear = await (
      await fetch(`${h.baseUrl}/v1/models/digits/versions/1/predict`, { method: 'POST', body: viaForm, headers: authHeader(h) })
    ).json();
    expect(formNear.predictions[0].neighbours).toHaveLength(2);
    expect((await api(h, 'POST', '/v1/models/digits/predict', { instances: grey.slice(0, 1), neighbours: 21 })).json.code).toBe(
      'validation_failed',
    );
    // a probe from before the indexes has none: 409 with its code, and plain predictions still work
    await h.app.db.artifact.deleteMany({ where: { jobId: probe.json.id, name: 'probe/neighbours.bin' } });
    const v3 = (await api(h, 'POST', '/v1/models', { name: 'old-digits', jobId: probe.json.id })).json;
    const noIndex = await api(h, 'POST', `/v1/models/old-digits/versions/${v3.version}/predict`, {
      instances: grey.slice(0, 1),
      neighbours: 3,
    });
    expect(noIndex.status).toBe(409);
    expect(noIndex.json.code).toBe('no_neighbour_index');
    expect((await api(h, 'POST', '/v1/models/old-digits/predict', { instances: grey.slice(0, 1) })).status).toBe(200);
    expect((await api(h, 'DELETE', `/v1/models/old-digits/versions/${v3.version}`)).status).toBe(204);

    for (const [body, status] of [
      [{ instances: [[[1, 2, 3]]] }, 400],
      [{ instances: [{ png: 'aGVsbG8=' }] }, 400],
      [{ instances: [] }, 400],
      [{ instances: grey.slice(0, 1), extra: true }, 400],
    ] as const) {
      const r = await api(h, 'POST', '/v1/models/digits/predict', body);
      expect(r.status, JSON.stringify(body).slice(0, 80)).toBe(status);
      expectErrorBody(r.json);
    }
    expect((await api(h, 'POST', '/v1/models/nope/predict', { instances: grey.slice(0, 1) })).status).toBe(404);

    // the registry: every version, aliases that move, metadata, predictions by alias or version in the path
    expect((await api(h, 'GET', '/v1/models/digits/versions')).json.items.map((m: any) => [m.version, m.head])).toEqual([
      [2, 'linear'],
      [1, 'mlp'],
    ]);
    expect((await api(h, 'GET', '/v1/models/nope/versions')).status).toBe(404);
    const alias = await api(h, 'PUT', '/v1/models/digits/aliases/production', { version: 1 });
    expect([alias.status, alias.json.version, alias.json.aliases]).toEqual([200, 1, ['production']]);
    expect((await api(h, 'GET', '/v1/models/digits/versions/production')).json).toMatchObject({ version: 1, head: 'mlp' });
    // `latest` is the newest version, never an alias
    expect((await api(h, 'GET', '/v1/models/digits/versions/latest')).json).toMatchObject({ version: 2 });
    expect((await api(h, 'PUT', '/v1/models/digits/aliases/latest', { version: 1 })).json.code).toBe('validation_failed');
    const byAlias = await api(h, 'POST', '/v1/models/digits/versions/production/predict', { instances: grey.slice(0, 5) });
    expect([byAlias.status, byAlias.json.version]).toEqual([200, 1]);
    expect(byAlias.json.predictions.map((p: any) => p.label)).toEqual(json.json.predictions.slice(0, 5).map((p: any) => p.label));
    expect((await api(h, 'POST', '/v1/models/digits/versions/2/embed', { instances: grey.slice(0, 1) })).json.version).toBe(2);
    const both = await api(h, 'POST', '/v1/models/digits/versions/2/predict', { instances: grey.slice(0, 1), version: 1 });
    expect([both.status, both.json.message]).toEqual([400, 'give the version in the path or in the body, not both']);
    const metadata = await api(h, 'GET', '/v1/models/digits/versions/production/metadata');
    expect(metadata.json).toMatchObject({
      version: 1,
      aliases: ['production'],
      datasetId: 'mnist',
      cpcJobId,
      input: { imageSize: 28, color: 'grey', pngSizes: ['28x28'] },
      output: { classes: 10, embeddingSize: 16 },
    });
    // moved to version 2; then gone
    expect((await api(h, 'PUT', '/v1/models/digits/aliases/production', { version: 2 })).json.aliases).toEqual(['production']);
    expect((await api(h, 'GET', '/v1/models/digits/versions/1')).json.aliases).toEqual([]);
    for (const [method, path, body, status] of [
      ['PUT', '/v1/models/digits/aliases/staging', { version: 9 }, 404],
      ['PUT', '/v1/models/nope/aliases/staging', { version: 1 }, 404],
      ['PUT', '/v1/models/digits/aliases/9bad', { version: 1 }, 400],
      ['PUT', '/v1/models/digits/aliases/staging', { version: 'x' }, 400],
      ['GET', '/v1/models/digits/versions/staging', undefined, 404],
      ['GET', '/v1/models/digits/versions/99999999999', undefined, 400],
      ['GET', '/v1/models/digits/versions/9999999999', undefined, 400],
      ['GET', '/v1/models/digits/versions/2147483647', undefined, 404],
      ['POST', '/v1/models/digits/versions/staging/predict', { instances: grey.slice(0, 1) }, 404],
      ['DELETE', '/v1/models/digits/aliases/staging', undefined, 404],
    ] as const) {
      const r = await api(h, method, path, body);
      expect(r.status, `${method} ${path}`).toBe(status);
      expectErrorBody(r.json);
    }
    expect((await api(h, 'DELETE', '/v1/models/digits/aliases/production')).status).toBe(204);
    expect((await api(h, 'GET', '/v1/models/digits/versions/production')).status).toBe(404);
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
    const cancelled = await waitFor(
      'running job to stop',
      async () => {
        const r = await api(h, 'GET', `/v1/jobs/${long.json.id}`);
        return r.json.status === 'cancelled' && r.json;
      },
      30_000,
    );
    expect(cancelled).toMatchObject({ error: null, finishedAt: expect.any(String) });
    expect((await api(h, 'POST', `/v1/jobs/${long.json.id}/cancel`)).status).toBe(409);

    // retry resumes from the checkpoint written at cancellation, not from step 0
    const retried = await api(h, 'POST', `/v1/jobs/${long.json.id}/retry`);
    expect(retried.status).toBe(202);
    expect(retried.json.status).toBe('queued');
    const resumed = await waitFor('retried job to make progress', async () => {
      const r = await api(h, 'GET', `/v1/jobs/${long.json.id}`);
      return r.json.status === 'running' && r.json.step > cancelled.step && r.json;
    });
    const firstMetricStep = (await api(h, 'GET', `/v1/jobs/${long.json.id}/metrics?name=loss&split=train`)).json.items.map(
      (m: any) => m.step,
    );
    expect(new Set(firstMetricStep).size).toBe(firstMetricStep.length); // no duplicated rows
    expect(resumed.attempts).toBe(cancelled.attempts + 1);
    // the new attempt started from the checkpoint the cancelled one stored, not from step 0
    const logs = (await h.app.queue.lanes.cpc.shared.getJobLogs(long.json.id)).logs.join('\n');
    const from = Number(/attempt \d+: resuming from the checkpoint at step (\d+)/.exec(logs)?.[1]);
    expect(from, logs).toBeGreaterThan(0);
    // (the checkpoint written at cancellation: at or past the last step the job reported, which is
    // recorded every METRICS_EVERY steps)
    expect(from).toBeGreaterThanOrEqual(cancelled.step);
    await api(h, 'POST', `/v1/jobs/${long.json.id}/cancel`);
    await waitFor('retried job to stop', async () => (await api(h, 'GET', `/v1/jobs/${long.json.id}`)).json.status === 'cancelled', 30_000);
    expect((await api(h, 'POST', `/v1/jobs/${cpcJobId}/retry`)).status).toBe(409);

    const next = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 4 }) });
    await waitFor('the next job to succeed', async () => (await api(h, 'GET', `/v1/jobs/${next.json.id}`)).json.status === 'succeeded');
  });

  it('a retry while the worker still holds the cancelled job waits for it, then runs the job again (never stuck queued)', async () => {
    const job = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 11, epochs: 200, stepsPerEpoch: 10 }) });
    await waitFor('the job to run', async () => (await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json.step > 0);
    // freeze the worker: its sandbox child still sees the cancel and records it in Postgres, but
    // BullMQ keeps the job active (its completion waits in the frozen worker's IPC buffer)
    h.worker.kill('SIGSTOP');
    try {
      expect((await api(h, 'POST', `/v1/jobs/${job.json.id}/cancel`)).status).toBe(202);
      await waitFor(
        'the cancel to be recorded',
        async () => (await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json.status === 'cancelled',
        30_000,
      );
      expect(await (await h.app.queue.lanes.cpc.shared.getJob(job.json.id))?.getState()).toBe('active');
      const early = await api(h, 'POST', `/v1/jobs/${job.json.id}/retry`);
      expect(early.status, early.text).toBe(409);
      expect(early.json.message).toMatch(/still ending/);
      expect((await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json.status).toBe('cancelled');
      // a retry sent now waits for the worker to let go of the job
      const retried = api(h, 'POST', `/v1/jobs/${job.json.id}/retry`);
      await new Promise((r) => setTimeout(r, 500));
      h.worker.kill('SIGCONT');
      expect((await retried).status).toBe(202);
    } finally {
      h.worker.kill('SIGCONT');
    }
    await waitFor(
      'the retried job to run again',
      async () => {
        const r = (await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json;
        return r.status === 'running' && r.attempts >= 2;
      },
      30_000,
    );
    await api(h, 'POST', `/v1/jobs/${job.json.id}/cancel`);
    await waitFor('the job to stop', async () => (await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json.status === 'cancelled', 30_000);
  });

  it('streams a job’s status, progress and metrics as Server-Sent Events until it ends', async () => {
    const job = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 5, stepsPerEpoch: 10 }) });
    const res = await fetch(`${h.baseUrl}/v1/jobs/${job.json.id}/events`, { headers: authHeader(h) });
    expect(res.headers.get('content-type')).toBe('text/event-stream');
    const text = await res.text(); // the server closes the stream after the final status
    const events = [...text.matchAll(/event: (\w+)\ndata: (.*)\n\n/g)].map((m) => ({ event: m[1], data: JSON.parse(m[2]) }));
    const kinds = new Set(events.map((e) => e.event));
    expect([...kinds]).toEqual(expect.arrayContaining(['status', 'progress', 'metrics', 'end']));
    expect(events.at(-1)).toEqual({ event: 'end', data: { status: 'succeeded' } });
    expect(events.filter((e) => e.event === 'progress').at(-1)!.data.step).toBe(10);
  });

  it('stores artifacts in Postgres for machines without a shared disk, verifying checksums on read', async () => {
    const store = new PostgresArtifactStore(h.app.db);
    const bytes = new Uint8Array([1, 2, 3, 250]);
    const stored = await store.put('jobs/test/blob.bin', bytes);
    expect(stored).toEqual({ uri: 'pg:jobs/test/blob.bin', bytes: 4, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(Array.from(await store.get(stored.uri, stored.sha256))).toEqual([1, 2, 3, 250]);
    await expect(store.get(stored.uri, 'f'.repeat(64))).rejects.toThrow(/does not match/);
  });

  it('answers 503 (not a hang, not a 500) while Redis is away, and loses no accepted job', async () => {
    const redisUrl = h.config.REDIS_URL;
    execFileSync('redis-cli', ['-u', redisUrl, 'shutdown']);
    try {
      const started = Date.now();
      const r = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 11 }) }, { 'idempotency-key': 'outage-1' });
      expect(r.status).toBe(503);
      expectErrorBody(r.json);
      expect(Date.now() - started).toBeLessThan(10_000);
      const ready = await api(h, 'GET', '/readyz');
      expect(ready.status).toBe(503);
      expect(ready.json.redis).toMatch(/unavailable/);
      expect(ready.json.postgres).toBe('ok');
      // the rest of the API: reads work, queue operations answer 503, nothing hangs
      const t0 = Date.now();
      expect((await api(h, 'GET', '/v1/jobs?limit=1')).status).toBe(200);
      expect((await api(h, 'GET', '/metrics')).status).toBe(200);
      const { job: other } = await createJob(h.app.db, {
        ownerId: DEFAULT_OWNER_ID,
        kind: 'cpc',
        config: tinyConfig({ seed: 12 }),
        seed: 12,
        priority: 50,
        totalSteps: 8,
      });
      const cancel = await api(h, 'POST', `/v1/jobs/${other.id}/cancel`);
      expect(cancel.status).toBe(503);
      expect(cancel.json.message).toMatch(/recorded/);
      expect(Date.now() - t0).toBeLessThan(10_000);
    } finally {
      startServices(h.servicesDir); // restarts Redis on the same port, from its AOF
    }
    await waitFor('Redis to be back', async () => (await api(h, 'GET', '/readyz')).status === 200, 30_000);
    const again = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 11 }) }, { 'idempotency-key': 'outage-1' });
    expect(again.status).toBe(202);
    await waitFor(
      'the job accepted during the outage to succeed',
      async () => (await api(h, 'GET', `/v1/jobs/${again.json.id}`)).json.status === 'succeeded',
      60_000,
    );
  });

  it('Redis frozen (SIGSTOP, the connection stays up): once noticed, calls fail at once; a key used meanwhile is not left locked', async () => {
    const pid = Number(readFileSync(join(h.servicesDir, 'redis', 'redis.pid'), 'utf8').trim());
    process.kill(pid, 'SIGSTOP');
    try {
      // the API's watcher pings every second: one that times out (3 s) drops the connection
      await waitFor('the API to drop its connection', async () => h.app.redis.status !== 'ready', 20_000);
      const started = Date.now();
      const r = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 13 }) }, { 'idempotency-key': 'frozen-1' });
      expect(r.status).toBe(503);
      expect((await api(h, 'GET', '/v1/jobs?limit=1')).status).toBe(200);
      // (each of these waited out the 3 s command timeout in turn before: up to 12 s for a submit)
      expect(Date.now() - started).toBeLessThan(3000);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    await waitFor('Redis to be back', async () => (await api(h, 'GET', '/readyz')).status === 200, 30_000);
    // the lock of the refused submission does not outlive it (a late SET once Redis woke up is released)
    const again = await waitFor(
      'the key to be free',
      async () => {
        const res = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ seed: 13 }) }, { 'idempotency-key': 'frozen-1' });
        return res.status !== 409 && res;
      },
      10_000,
    );
    expect(again.status).toBe(202);
    await api(h, 'POST', `/v1/jobs/${again.json.id}/cancel`);
  });

  it('exposes Prometheus metrics', async () => {
    const r = await api(h, 'GET', '/metrics');
    expect(r.status).toBe(200);
    expect(r.text).toMatch(/cpc_jobs\{kind="cpc",status="succeeded"\} \d+/);
    expect(r.text).toMatch(/cpc_queue_jobs\{queue="cpc",state="waiting"\} 0/);
    expect(r.text).toMatch(/cpc_http_request_duration_seconds_bucket/);
  });
});
