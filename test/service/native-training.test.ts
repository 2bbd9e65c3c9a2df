/**
 * The service's training path on TensorFlow's native library (the `native`
 * vitest project): a worker started with CPC_BACKEND=node trains a job; the
 * job, its manifest and GET /v1/info say what it ran on.
 */
import { it, expect, beforeAll, afterAll } from 'vitest';
import { startHarness, api, waitFor, type Harness } from './harness.js';
import { infoWithWorker, tinyConfig } from './fixtures.js';
import { BACKEND_SKIP_REASON, describeOnBackend } from '../helpers.js';

let h: Harness;

beforeAll(async () => {
  if (!BACKEND_SKIP_REASON) h = await startHarness({ env: { CPC_BACKEND: 'node', TRAIN_THREADS: '2' } });
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

describeOnBackend('the service on the native backend', () => {
  it('trains a CPC job with CPC_BACKEND=node; the job, its manifest and GET /v1/info say tensorflow', async () => {
    // (the worker registers once TensorFlow has loaded)
    const info = await infoWithWorker(h);
    expect(info.json.workers).toHaveLength(1);
    expect(info.json.workers[0]).toMatchObject({
      queues: expect.arrayContaining(['cpc', 'probe']),
      backend: { name: 'tensorflow', package: '@tensorflow/tfjs-node', gpu: false, threads: 2 },
    });
    expect(info.json.workers[0].backend.tensorflow).toMatch(/^\d+\.\d+/);
    const job = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ stepsPerEpoch: 4, epochs: 1 }) });
    expect(job.status).toBe(202);
    await waitFor('the job', async () => ['succeeded', 'failed'].includes((await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json.status));
    const done = (await api(h, 'GET', `/v1/jobs/${job.json.id}`)).json;
    expect(done).toMatchObject({ status: 'succeeded', backend: 'tensorflow' });
    const manifestRow = await h.app.db.artifact.findFirstOrThrow({ where: { jobId: job.json.id, name: 'manifest.json' } });
    const manifest = JSON.parse(Buffer.from(await h.app.artifactStore.get(manifestRow.uri, manifestRow.sha256)).toString('utf8'));
    expect(manifest.backend).toMatchObject({ name: 'tensorflow', threads: 2, gpu: false });
    // the run's own test pass on the native backend: InfoNCE's chance over 16 x 4 candidates less collisions, a finite loss
    expect(done.result.test).toMatchObject({ chance: expect.any(Number), loss: expect.any(Number), accuracy: expect.any(Number) });
    expect(done.result.test.chance).toBeGreaterThan(1 / 64);
    expect(done.result.test.chance).toBeLessThan(1 / 32);
    expect(Number.isFinite(done.result.test.loss)).toBe(true);
  });
});
