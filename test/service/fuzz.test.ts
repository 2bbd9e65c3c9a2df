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
import { startHarness, api, authHeader, type Harness } from './harness.js';
import { stopFirstWorker, trainDigitsModel } from './fixtures.js';
import { spec } from './contract.js';

type Schema = Record<string, any>;

let h: Harness;
const known: Record<string, string[]> = { id: [], name: ['digits'], version: ['1'] };
const knownBodyValues: Record<string, string[]> = { experimentId: [], cpcJobId: [], jobId: [] };
/** images the predict routes accept (the schema alone cannot say "square, 28 or 64 pixels") */
const digitImage = fc.array(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 28, maxLength: 28 }), { minLength: 28, maxLength: 28 });
const routeExamples: Record<string, fc.Arbitrary<unknown>> = {
  'POST /v1/models/{name}/predict': fc.record({ instances: fc.array(digitImage, { minLength: 1, maxLength: 3 }), embedding: fc.boolean() }),
  'POST /v1/models/{name}/embed': fc.record({ instances: fc.array(digitImage, { minLength: 1, maxLength: 3 }) }),
};
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
  expect((await api(h, 'POST', '/v1/models/digits/predict', { instances: [Array.from({ length: 28 }, () => Array(28).fill(0))] })).status).toBe(200);
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

/** fast-check arbitrary for (the subset of) JSON Schema that the TypeBox routes produce */
function arbitraryFor(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return fc.jsonValue({ maxDepth: 2 });
  const base = schemaArbitrary(schema, depth);
  return schema.nullable ? fc.oneof(base, fc.constant(null)) : base;
}

function schemaArbitrary(s: Schema, depth: number): fc.Arbitrary<unknown> {
  if (s.const !== undefined) return fc.constant(s.const);
  if (s.enum) return fc.constantFrom(...s.enum);
  if (s.anyOf || s.oneOf) return fc.oneof(...(s.anyOf ?? s.oneOf).map((x: Schema) => arbitraryFor(x, depth + 1)));
  if (s.allOf) return arbitraryFor(Object.assign({}, ...s.allOf), depth + 1);
  switch (s.type) {
    case 'object': {
      const props = s.properties ?? {};
      const model: Record<string, fc.Arbitrary<unknown>> = {};
      for (const [k, v] of Object.entries(props)) {
        const generated = arbitraryFor(v as Schema, depth + 1);
        // ids and names that exist, so valid requests reach the handlers and not only 404s
        model[k] = knownBodyValues[k]?.length ? fc.oneof(fc.constantFrom(...knownBodyValues[k]), generated) : generated;
      }
      return fc.record(model, { requiredKeys: (s.required ?? []).filter((k: string) => k in props) });
    }
    case 'array':
      return fc.array(arbitraryFor(s.items, depth + 1), { minLength: Math.min(s.minItems ?? 0, 30), maxLength: Math.min(s.maxItems ?? 4, Math.max(s.minItems ?? 0, 4), 30) });
    case 'integer':
      return fc.integer({ min: Math.max(s.minimum ?? -1e6, -(2 ** 31)), max: Math.min(s.maximum ?? 1e6, 2 ** 31 - 1) });
    case 'number':
      return fc.double({ min: s.minimum ?? -1e6, max: s.maximum ?? 1e6, noNaN: true, noDefaultInfinity: true });
    case 'boolean':
      return fc.boolean();
    case 'string':
      if (s.format === 'uuid') return fc.uuid();
      if (s.format === 'date-time') return fc.date({ noInvalidDate: true }).map((d) => d.toISOString());
      return fc.string({ minLength: s.minLength ?? 0, maxLength: Math.min(s.maxLength ?? 20, 40) });
    default:
      return fc.jsonValue({ maxDepth: 2 });
  }
}

/** a valid-looking value made wrong: another type, an extra field, a dropped field, or anything at all */
function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    valid.chain((v) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? fc.oneof(
            fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })).map(([k, x]) => ({ ...v, [`x_${k}`]: x })),
            fc.constantFrom(...(Object.keys(v).length ? Object.keys(v) : ['none'])).map((k) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== k))),
            fc.tuple(fc.constantFrom(...(Object.keys(v).length ? Object.keys(v) : ['none'])), fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer()))).map(([k, x]) => ({ ...v, [k]: x })),
          )
        : fc.jsonValue({ maxDepth: 2 }),
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
}

interface Operation {
  method: string;
  template: string;
  params: Array<{ name: string; in: string; schema: Schema; required?: boolean }>;
  body?: Schema;
}

const operations: Operation[] = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([template, ops]) =>
  Object.entries(ops).map(([method, op]) => ({ method: method.toUpperCase(), template, params: op.parameters ?? [], body: op.requestBody?.content?.['application/json']?.schema })),
);

function paramValue(p: Operation['params'][number]): fc.Arbitrary<string> {
  const pool = known[p.name] ?? [];
  const generated = arbitraryFor(p.schema).map((v) => String(v));
  const random = { weight: 1, arbitrary: fc.string({ maxLength: 30 }) };
  return pool.length ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, { weight: 2, arbitrary: generated }, random) : fc.oneof({ weight: 4, arbitrary: generated }, random);
}

function requestFor(op: Operation) {
  const path = op.params.filter((p) => p.in === 'path');
  const query = op.params.filter((p) => p.in === 'query');
  const pathArb = fc.tuple(...path.map(paramValue)).map((values) => path.reduce((url, p, i) => url.replace(`{${p.name}}`, encodeURIComponent(values[i]) || 'x'), op.template));
  const queryArb = fc
    .tuple(...query.map((p) => fc.option(paramValue(p), { nil: undefined, freq: 1 })))
    .map((values) => new URLSearchParams(Object.fromEntries(query.flatMap((p, i) => (values[i] === undefined ? [] : [[p.name, values[i]!]])))).toString());
  const example = routeExamples[`${op.method} ${op.template}`];
  const validBody = op.body ? (example ? fc.oneof(example, arbitraryFor(op.body)) : arbitraryFor(op.body)) : fc.constant(undefined);
  const bodyArb = op.body
    ? fc.oneof({ weight: 3, arbitrary: validBody }, { weight: 3, arbitrary: mutated(validBody) }, { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `{"broken": ${s}`) })
    : fc.constant(undefined);
  return fc.record({ url: pathArb, query: queryArb, body: bodyArb });
}

describe('fuzzing every documented route', () => {
  for (const op of operations) {
    it(`${op.method} ${op.template}: no 5xx, answers match the contract, no tensor leak`, async () => {
      const streaming = op.template.endsWith('/events');
      await fc.assert(
        fc.asyncProperty(requestFor(op), async ({ url, query, body }) => {
          const full = query ? `${url}?${query}` : url;
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
      const r = await api(h, 'POST', '/v1/models/digits/predict', { version: 1, instances: [Array.from({ length: 28 }, () => Array(28).fill(i))] });
      expect(r.status).toBe(200);
      await api(h, 'POST', '/v1/models/digits/predict', { instances: [{ png: 'garbage' }] });
    }
    await new Promise((r) => setTimeout(r, 100)); // evicted models are disposed once their load settles
    expect(liveTensors()).toBe(tensorsBefore);
    expect((await api(h, 'GET', '/healthz')).status).toBe(200);
    if (process.env.FUZZ_REPORT) console.log([...statusCounts].sort().map(([k, n]) => `${k}: ${n}`).join('\n'));
    // the generated traffic must reach the handlers, not only the validator
    const accepted = [...statusCounts].filter(([k]) => / 2\d\d$/.test(k)).reduce((n, [, c]) => n + c, 0);
    expect(accepted).toBeGreaterThan(RUNS);
  });
});
