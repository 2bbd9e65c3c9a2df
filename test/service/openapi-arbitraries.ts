/**
 * fast-check generators of requests for every operation in openapi.yaml:
 * values from the documented parameter and body schemas, valid and mutated,
 * with ids and names that exist mixed in (fill `known` and `knownBodyValues`
 * before generating) so requests reach the handlers. Shared by the fuzz
 * suites.
 */
import fc from 'fast-check';
import { spec } from './contract.js';

export type Schema = Record<string, any>;

/** path and query values that exist on the server under test, by parameter name */
export const known: Record<string, string[]> = { id: [], name: ['digits'], version: ['1'] };
/** body values that exist, by field name */
export const knownBodyValues: Record<string, string[]> = { experimentId: [], cpcJobId: [], jobId: [] };

/** images the predict routes accept (the schema alone cannot say "square, 28 or 64 pixels") */
const digitImage = fc.array(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 28, maxLength: 28 }), { minLength: 28, maxLength: 28 });
const routeExamples: Record<string, fc.Arbitrary<unknown>> = {
  'POST /v1/models/{name}/predict': fc.record({ instances: fc.array(digitImage, { minLength: 1, maxLength: 3 }), embedding: fc.boolean() }),
  'POST /v1/models/{name}/embed': fc.record({ instances: fc.array(digitImage, { minLength: 1, maxLength: 3 }) }),
};
/** fast-check arbitrary for (the subset of) JSON Schema that the TypeBox routes produce */
export function arbitraryFor(schema: Schema | undefined, depth = 0): fc.Arbitrary<unknown> {
  if (!schema || depth > 6) return fc.jsonValue({ maxDepth: 2 });
  const base = schemaArbitrary(schema, depth);
  return schema.nullable ? fc.oneof(base, fc.constant(null)) : base;
}

/** a named component (`$ref: '#/components/schemas/Job'`) as its schema */
export function resolved(s: Schema): Schema {
  if (typeof s.$ref !== 'string') return s;
  const target = spec.components?.schemas?.[s.$ref.replace('#/components/schemas/', '')];
  if (!target) throw new Error(`openapi.yaml: ${s.$ref} names no schema`);
  return target as Schema;
}

function schemaArbitrary(schema: Schema, depth: number): fc.Arbitrary<unknown> {
  const s = resolved(schema);
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
      return fc.array(arbitraryFor(s.items, depth + 1), {
        minLength: Math.min(s.minItems ?? 0, 30),
        maxLength: Math.min(s.maxItems ?? 4, Math.max(s.minItems ?? 0, 4), 30),
      });
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
export function mutated(valid: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> {
  return fc.oneof(
    valid.chain((v) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? fc.oneof(
            fc.tuple(fc.string({ minLength: 1, maxLength: 10 }), fc.jsonValue({ maxDepth: 1 })).map(([k, x]) => ({ ...v, [`x_${k}`]: x })),
            fc
              .constantFrom(...(Object.keys(v).length ? Object.keys(v) : ['none']))
              .map((k) => Object.fromEntries(Object.entries(v).filter(([key]) => key !== k))),
            fc
              .tuple(
                fc.constantFrom(...(Object.keys(v).length ? Object.keys(v) : ['none'])),
                fc.oneof(fc.string(), fc.integer(), fc.constant(null), fc.array(fc.integer())),
              )
              .map(([k, x]) => ({ ...v, [k]: x })),
          )
        : fc.jsonValue({ maxDepth: 2 }),
    ),
    fc.jsonValue({ maxDepth: 3 }),
  );
}

export interface Operation {
  method: string;
  template: string;
  params: Array<{ name: string; in: string; schema: Schema; required?: boolean }>;
  body?: Schema;
}

export const operations: Operation[] = Object.entries(spec.paths as Record<string, Record<string, any>>).flatMap(([template, ops]) =>
  Object.entries(ops).map(([method, op]) => ({
    method: method.toUpperCase(),
    template,
    params: op.parameters ?? [],
    body: op.requestBody?.content?.['application/json']?.schema,
  })),
);

export function paramValue(p: Operation['params'][number]): fc.Arbitrary<string> {
  const pool = known[p.name] ?? [];
  const generated = arbitraryFor(p.schema).map((v) => String(v));
  const random = { weight: 1, arbitrary: fc.string({ maxLength: 30 }) };
  return pool.length
    ? fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...pool) }, { weight: 2, arbitrary: generated }, random)
    : fc.oneof({ weight: 4, arbitrary: generated }, random);
}

export function requestFor(op: Operation) {
  const path = op.params.filter((p) => p.in === 'path');
  const query = op.params.filter((p) => p.in === 'query');
  const pathArb = fc
    .tuple(...path.map(paramValue))
    .map((values) => path.reduce((url, p, i) => url.replace(`{${p.name}}`, encodeURIComponent(values[i]) || 'x'), op.template));
  const queryArb = fc
    .tuple(...query.map((p) => fc.option(paramValue(p), { nil: undefined, freq: 1 })))
    .map((values) =>
      new URLSearchParams(Object.fromEntries(query.flatMap((p, i) => (values[i] === undefined ? [] : [[p.name, values[i]!]])))).toString(),
    );
  const example = routeExamples[`${op.method} ${op.template}`];
  const validBody = op.body ? (example ? fc.oneof(example, arbitraryFor(op.body)) : arbitraryFor(op.body)) : fc.constant(undefined);
  const bodyArb = op.body
    ? fc.oneof(
        { weight: 3, arbitrary: validBody },
        { weight: 3, arbitrary: mutated(validBody) },
        { weight: 1, arbitrary: fc.string({ maxLength: 30 }).map((s) => `{"broken": ${s}`) },
      )
    : fc.constant(undefined);
  return fc.record({ url: pathArb, query: queryArb, body: bodyArb });
}
