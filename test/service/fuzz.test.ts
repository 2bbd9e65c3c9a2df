/**
 * Property-based fuzzing of every route in openapi.yaml with fast-check:
 * requests generated from the documented parameter and body schemas, valid
 * and mutated (wrong types, unknown fields, missing fields, arbitrary JSON,
 * broken JSON, random ids). Properties: never a 5xx, every JSON answer
 * matches the contract (checked inside api()), the API stays up, and the
 * TensorFlow.js tensor count of the API process does not grow.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import fc from 'fast-check';
import * as tf from '@tensorflow/tfjs';
import { startHarness, api, authHeader, waitFor, type Harness } from './harness.js';
import { stopFirstWorker, trainDigitsModel } from './fixtures.js';
import { known, knownBodyValues, operations, requestFor } from './openapi-arbitraries.js';

let h: Harness;
let tensorsBefore = -1;
const liveTensors = () => tf.memory().numTensors + h.app.inference.tensors();
/** answers seen per route and status: the run shows how much valid traffic it produced */
const statusCounts = new Map<string, number>();
const RUNS = Number(process.env.FUZZ_RUNS ?? 40);

beforeAll(async () => {
  // one cached model: after the run, serving version 1 again must leave exactly its tensors
  h = await startHarness({ env: { MODEL_CACHE_SIZE: '1' } });
  const { cpcJobId, probeJobId } = await trainDigitsModel(h);
  const experiment = await api(h, 'POST', '/v1/experiments', { name: 'fuzz' });
  // load the model once, then count tensors: the fuzzing must not add any
  expect(
    (await api(h, 'POST', '/v1/models/digits/predict', { instances: [Array.from({ length: 28 }, () => Array(28).fill(0))] })).status,
  ).toBe(200);
  // (the models run in the API's inference threads: count theirs as well as this process's)
  tensorsBefore = liveTensors();
  const artifact = await h.app.db.artifact.findFirstOrThrow({ where: { jobId: cpcJobId } });
  known.id = [cpcJobId, probeJobId, experiment.json.id, artifact.id];
  Object.assign(knownBodyValues, { experimentId: [experiment.json.id], cpcJobId: [cpcJobId], jobId: [probeJobId] });
  // fuzzed submissions only queue: no worker takes them
  await stopFirstWorker(h);
}, 240_000);

afterAll(async () => {
  await h?.stop();
});

describe('fuzzing every documented route', () => {
  for (const op of operations) {
    it(`${op.method} ${op.template}: no 5xx, answers match the contract, no tensor leak`, async () => {
      await fc.assert(
        fc.asyncProperty(requestFor(op), async ({ url, query, body }) => {
          const full = query ? `${url}?${query}` : url;
          // (an event stream of a job that has not ended stays open: only its answer's status is read)
          const streaming = op.template.endsWith('/events') || (op.template.endsWith('/logs') && /follow=true/.test(query ?? ''));
          if (streaming) {
            const controller = new AbortController();
            const res = await fetch(h.baseUrl + full, { headers: authHeader(h), signal: controller.signal });
            controller.abort();
            expect(res.status).toBeLessThan(500);
            return;
          }
          const r = await api(h, op.method, full, body);
          const bucket = `${op.method} ${op.template} ${r.status}`;
          statusCounts.set(bucket, (statusCounts.get(bucket) ?? 0) + 1);
          expect(r.status, `${op.method} ${full} ${JSON.stringify(body)?.slice(0, 300)} -> ${r.text.slice(0, 300)}`).toBeLessThan(500);
        }),
        { numRuns: RUNS, seed: Number(process.env.FUZZ_SEED ?? 42) },
      );
    });
  }

  it('leaves the API up and the tensor count flat', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await api(h, 'POST', '/v1/models/digits/predict', {
        version: 1,
        instances: [Array.from({ length: 28 }, () => Array(28).fill(i))],
      });
      expect(r.status).toBe(200);
      await api(h, 'POST', '/v1/models/digits/predict', { instances: [{ png: 'garbage' }] });
    }
    // evicted models are disposed once their load settles, and the threads report their count with each answer
    await waitFor('the tensor count to be back where it was', async () => liveTensors() === tensorsBefore, 10_000).catch(() => undefined);
    expect(liveTensors()).toBe(tensorsBefore);
    expect((await api(h, 'GET', '/healthz')).status).toBe(200);
    if (process.env.FUZZ_REPORT)
      console.log(
        [...statusCounts]
          .sort()
          .map(([k, n]) => `${k}: ${n}`)
          .join('\n'),
      );
    // the generated traffic must reach the handlers, not only the validator
    const accepted = [...statusCounts].filter(([k]) => / 2\d\d$/.test(k)).reduce((n, [, c]) => n + c, 0);
    expect(accepted).toBeGreaterThan(RUNS);
  });
});
