/** Small jobs and a served model for the service tests: seconds of training, real end to end. */
import { expect } from 'vitest';
import { api, waitFor, type Harness } from './harness.js';

export const tinyModel = { convLayers: 3, filters: 8, hidden: 32, codeSize: 16, contextSize: 32 };

/** a CPC config that trains in a few seconds (28x28 grey, tiny network); extra fields override */
export function tinyConfig(extra: Record<string, unknown> = {}) {
  return {
    imageSize: 28,
    color: 'grey',
    greySteps: 0,
    batchSize: 16,
    epochs: 1,
    stepsPerEpoch: 8,
    validationSteps: 2,
    model: tinyModel,
    ...extra,
  };
}

/** Train a tiny CPC job and a probe over the API, register the probe as model `name`. */
export async function trainDigitsModel(h: Harness, name = 'digits'): Promise<{ cpcJobId: string; probeJobId: string }> {
  const cpc = await api(h, 'POST', '/v1/jobs', { kind: 'cpc', config: tinyConfig({ stepsPerEpoch: 6 }) });
  expect(cpc.status).toBe(202);
  await waitFor('the CPC job', async () => (await api(h, 'GET', `/v1/jobs/${cpc.json.id}`)).json.status === 'succeeded');
  const probe = await api(h, 'POST', '/v1/jobs', {
    kind: 'probe',
    cpcJobId: cpc.json.id,
    config: { trainImages: 500, testImages: 200, epochs: 1 },
  });
  expect(probe.status).toBe(202);
  await waitFor('the probe job', async () => (await api(h, 'GET', `/v1/jobs/${probe.json.id}`)).json.status === 'succeeded');
  expect((await api(h, 'POST', '/v1/models', { name, jobId: probe.json.id })).status).toBe(201);
  return { cpcJobId: cpc.json.id, probeJobId: probe.json.id };
}

/** Stop the harness's first worker, so that jobs submitted afterwards only queue. */
export async function stopFirstWorker(h: Harness): Promise<void> {
  h.worker.kill('SIGTERM');
  await waitFor('the worker to stop', async () => h.worker.exitCode !== null || h.worker.signalCode !== null, 30_000);
}

/** GET /v1/info once a worker is listed for both job kinds (a worker registers with each queue in turn) */
export async function infoWithWorker(h: Harness) {
  return waitFor('a worker in GET /v1/info, serving both kinds', async () => {
    const r = await api(h, 'GET', '/v1/info');
    const queues: string[] = r.json.workers?.[0]?.queues ?? [];
    return queues.includes('cpc') && queues.includes('probe') ? r : null;
  });
}
