import { describe, it, expect } from 'vitest';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { openapiYaml } from '../src/api/openapi.js';

describe('openapi.yaml', () => {
  it('is exactly what the route schemas generate (run `npm run openapi` after changing a route)', async () => {
    const committed = readFileSync(join(import.meta.dirname, '..', 'openapi.yaml'), 'utf8');
    expect(await openapiYaml()).toBe(committed);
  });

  it('names every operation once (operationId)', () => {
    const spec = parse(readFileSync(join(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'));
    const ids = Object.entries(spec.paths as Record<string, Record<string, { operationId?: string }>>).flatMap(([path, ops]) =>
      Object.entries(ops).map(([m, op]) => [`${m.toUpperCase()} ${path}`, op.operationId] as const),
    );
    expect(ids.filter(([, id]) => !id).map(([route]) => route)).toEqual([]);
    expect(new Set(ids.map(([, id]) => id)).size).toBe(ids.length);
  });

  it('documents every route of the issue with its error responses', () => {
    const spec = parse(readFileSync(join(import.meta.dirname, '..', 'openapi.yaml'), 'utf8'));
    const routes = Object.entries(spec.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>).flatMap(
      ([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`),
    );
    expect(routes).toEqual(
      expect.arrayContaining([
        'POST /v1/experiments',
        'GET /v1/experiments',
        'GET /v1/experiments/{id}',
        'POST /v1/jobs',
        'GET /v1/jobs',
        'GET /v1/jobs/{id}',
        'GET /v1/jobs/{id}/metrics',
        'GET /v1/jobs/{id}/events',
        'POST /v1/jobs/{id}/cancel',
        'POST /v1/jobs/{id}/retry',
        'GET /v1/artifacts/{id}',
        'POST /v1/models',
        'GET /v1/models',
        'GET /v1/models/{name}/versions/{ref}',
        'GET /v1/models/{name}/versions',
        'GET /v1/models/{name}/versions/{ref}/metadata',
        'PUT /v1/models/{name}/aliases/{alias}',
        'DELETE /v1/models/{name}/aliases/{alias}',
        'POST /v1/models/{name}/versions/{ref}/predict',
        'GET /v1/experiments/{id}/compare',
        'POST /v1/experiments/{id}/sweeps',
        'POST /v1/models/{name}/predict',
        'POST /v1/models/{name}/embed',
        'GET /healthz',
        'GET /readyz',
        'GET /metrics',
      ]),
    );
    expect(Object.keys(spec.paths['/v1/jobs'].post.responses)).toEqual(expect.arrayContaining(['202', '400', '404', '409', '422']));
  });
});
