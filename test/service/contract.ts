/** Checks API responses against openapi.yaml (the committed contract), by method, path template and status. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';

export const spec = parse(readFileSync(join(import.meta.dirname, '..', '..', 'openapi.yaml'), 'utf8'));
const ajv = new Ajv({ strict: false, allErrors: true });
(addFormats as unknown as (a: Ajv) => void)(ajv);
for (const [name, schema] of Object.entries(spec.components?.schemas ?? {}))
  ajv.addSchema(schema as object, `#/components/schemas/${name}`);

interface Route {
  method: string;
  pattern: RegExp;
  template: string;
  responses: Record<string, { content?: Record<string, { schema: object }> }>;
}

const routes: Route[] = Object.entries(spec.paths as Record<string, Record<string, { responses: Route['responses'] }>>).flatMap(
  ([template, ops]) =>
    Object.entries(ops).map(([method, op]) => ({
      method: method.toUpperCase(),
      template,
      pattern: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
      responses: op.responses,
    })),
);

const compiled = new Map<string, ValidateFunction>();

/** Throws when a JSON response does not match the contract; returns false when the contract has no JSON schema for it. */
export function checkContract(method: string, url: string, status: number, body: unknown): boolean {
  const path = url.split('?')[0];
  const route = routes.find((r) => r.method === method && r.pattern.test(path));
  if (!route) {
    if (status === 404) return false; // unknown routes answer 404 by design
    throw new Error(`${method} ${path} is not in openapi.yaml`);
  }
  const response = route.responses[String(status)];
  if (!response) throw new Error(`${method} ${route.template} answered ${status}, which openapi.yaml does not document`);
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return false;
  const key = `${method} ${route.template} ${status}`;
  let validate = compiled.get(key);
  if (!validate) compiled.set(key, (validate = ajv.compile(schema)));
  if (!validate(body)) throw new Error(`${key}: response does not match openapi.yaml: ${ajv.errorsText(validate.errors)}`);
  return true;
}
