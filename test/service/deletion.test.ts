/**
 * Deleting jobs, experiments and model versions against the real service:
 * only what nothing still uses goes (a job that is not final, a job a model
 * version is made from, a version an alias points at are refused with a code
 * and the blockers named); a deleted job takes its probes, rows and files with
 * it; another owner's things are not found; the machine-readable error codes.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { api, startHarness, waitFor, type Harness } from './harness.js';
import { tinyConfig, trainDigitsModel } from './fixtures.js';
import { createApiKey } from '../../src/store/api-keys.js';

let h: Harness;
let digits: { cpcJobId: string; probeJobId: string };

beforeAll(async () => {
  h = await startHarness();
  digits = await trainDigitsModel(h, 'doomed');
}, 300_000);

afterAll(async () => {
  await h?.stop();
});

const bearer = (key: string) => ({ authorization: `Bearer ${key}` });
const one28 = Array.from({ length: 28 }, () => Array.from({ length: 28 }, () => 0));

/** where the local artifact store keeps a uri's bytes */
const fileOf = (uri: string) => join(h.config.ARTIFACT_DIR, uri.replace(/^file:/, ''));

describe('deleting', () => {
  it('refuses a job a model version is made from, and a version an alias points at, naming what holds them', async () => {
    const job = await api(h, 'DELETE', `/v1/jobs/${digits.cpcJobId}`);
    expect(job.status).toBe(409);
    expect(job.json).toMatchObject({ code: 'job_in_use', details: { models: [{ name: 'doomed', version: 1, jobId: digits.probeJobId }] } });
    expect(job.json.message).toMatch(/is model doomed version 1: delete that version first/);

    expect((await api(h, 'PUT', '/v1/models/doomed/aliases/production', { version: 1 })).status).toBe(200);
    const version = await api(h, 'DELETE', '/v1/models/doomed/versions/1');
    expect(version.status).toBe(409);
    expect(version.json).toMatchObject({ code: 'model_version_aliased', details: { aliases: ['production'] } });
    expect((await api(h, 'DELETE', '/v1/models/doomed/versions/production')).status).toBe(400);
    expect((await api(h, 'DELETE', '/v1/models/doomed/versions/7')).json).toMatchObject({ code: 'not_found' });
  });

  it('deletes a version (no longer served or listed) and then the job with its probe, rows and files', async () => {
    expect((await api(h, 'DELETE', '/v1/models/doomed/aliases/production')).status).toBe(204);
    expect((await api(h, 'POST', '/v1/models/doomed/versions/1/predict', { instances: [one28] })).status).toBe(200);
    expect((await api(h, 'DELETE', '/v1/models/doomed/versions/1')).status).toBe(204);
    expect((await api(h, 'GET', '/v1/models/doomed/versions')).status).toBe(404);
    expect((await api(h, 'POST', '/v1/models/doomed/versions/1/predict', { instances: [one28] })).status).toBe(404);

    const artifacts = await h.app.db.artifact.findMany({ where: { jobId: { in: [digits.cpcJobId, digits.probeJobId] } } });
    expect(artifacts.length).toBeGreaterThan(2);
    for (const a of artifacts) expect(existsSync(fileOf(a.uri))).toBe(true);

    const deleted = await api(h, 'DELETE', `/v1/jobs/${digits.cpcJobId}`);
    expect(deleted.status).toBe(200);
    expect(deleted.json).toEqual({ jobs: expect.arrayContaining([digits.cpcJobId, digits.probeJobId]), artifacts: artifacts.length });
    expect(deleted.json.jobs).toHaveLength(2);
    for (const id of [digits.cpcJobId, digits.probeJobId]) {
      expect((await api(h, 'GET', `/v1/jobs/${id}`)).json).toMatchObject({ code: 'not_found' });
      expect(await h.app.db.metricPoint.count({ where: { jobId: id } })).toBe(0);
      expect(await h.app.db.jobLogLine.count({ where: { jobId: id } })).toBe(0);
    }
    for (const a of artifacts) expect(existsSync(fileOf(a.uri))).toBe(false);
    expect((await api(h, 'DELETE', `/v1/jobs/${digits.cpcJobId}`)).status).toBe(404);
  });

  it('refuses a job that is not final, with the code job_not_final; deletes it once cancelled', async () => {
    const queued = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig() })).json.id;
    const refused = await api(h, 'DELETE', `/v1/jobs/${queued}`);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ code: 'job_not_final', details: { jobs: [{ id: queued, status: 'queued' }] } });
    expect((await api(h, 'POST', `/v1/jobs/${queued}/cancel`)).status).toBe(202);
    expect((await api(h, 'DELETE', `/v1/jobs/${queued}`)).json).toEqual({ jobs: [queued], artifacts: 0 });
  });

  it('deletes an experiment with its jobs, all or nothing; its stream ends', async () => {
    const experiment = (await api(h, 'POST', '/v1/experiments', { name: 'short-lived' })).json;
    const ids: string[] = [];
    for (const seed of [1, 2])
      ids.push(
        (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', experimentId: experiment.id, config: tinyConfig({ seed }) })).json
          .id,
      );
    await api(h, 'POST', `/v1/jobs/${ids[0]}/cancel`);
    const refused = await api(h, 'DELETE', `/v1/experiments/${experiment.id}`);
    expect(refused.status).toBe(409);
    expect(refused.json).toMatchObject({ code: 'job_not_final', details: { jobs: [{ id: ids[1] }] } });
    // (nothing went: the cancelled job is still there)
    expect((await api(h, 'GET', `/v1/jobs/${ids[0]}`)).status).toBe(200);

    await api(h, 'POST', `/v1/jobs/${ids[1]}/cancel`);
    const stream = fetch(`${h.baseUrl}/v1/experiments/${experiment.id}/events`, { headers: bearer(h.adminKey) }).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 500));
    const deleted = await api(h, 'DELETE', `/v1/experiments/${experiment.id}`);
    expect(deleted.status).toBe(200);
    expect([...deleted.json.jobs].sort()).toEqual([...ids].sort());
    expect((await api(h, 'GET', `/v1/experiments/${experiment.id}`)).status).toBe(404);
    for (const id of ids) expect((await api(h, 'GET', `/v1/jobs/${id}`)).status).toBe(404);
    expect(await waitFor('the stream to end', () => stream, 10_000)).toMatch(/event: end\ndata: \{"status":"deleted"\}/);
  });

  it('never hands a version number out twice, even after the newest is deleted', async () => {
    const cpc = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig({ seed: 11 }) })).json;
    // (a registered version needs a succeeded probe job: one made straight in the database)
    const done = await h.app.db.job.create({
      data: {
        id: `job_probe_${Date.now()}`,
        ownerId: h.owner.id,
        kind: 'probe',
        status: 'succeeded',
        config: {},
        configHash: 'x',
        seed: 0,
        parentJobId: cpc.id,
        result: {},
      },
    });
    const register = async () => (await api(h, 'POST', '/v1/models', { name: 'renumbered', jobId: done.id })).json.version;
    expect([await register(), await register()]).toEqual([1, 2]);
    expect((await api(h, 'DELETE', '/v1/models/renumbered/versions/2')).status).toBe(204);
    expect(await register()).toBe(3);
    for (const v of [1, 3]) await api(h, 'DELETE', `/v1/models/renumbered/versions/${v}`);
    expect(await register()).toBe(4);
  });

  it('a tenant cannot delete, nor learn of, another owner’s job in its experiment', async () => {
    const tenant = (await createApiKey(h.app.db, 'tenant', ['write'])).key;
    const experiment = (await api(h, 'POST', '/v1/experiments', { name: 'shared' }, bearer(tenant))).json;
    // an admin's job in the tenant's experiment (an admin may submit into any)
    const adminJob = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', experimentId: experiment.id, config: tinyConfig() }))
      .json;
    const refused = await api(h, 'DELETE', `/v1/experiments/${experiment.id}`, undefined, bearer(tenant));
    expect(refused.status).toBe(409);
    expect(refused.json.code).toBe('job_in_use');
    expect(refused.text).not.toContain(adminJob.id);
    await api(h, 'POST', `/v1/jobs/${adminJob.id}/cancel`);
    expect((await api(h, 'DELETE', `/v1/experiments/${experiment.id}`, undefined, bearer(tenant))).status).toBe(409);
    expect((await api(h, 'GET', `/v1/jobs/${adminJob.id}`)).status).toBe(200);
    // the admin may
    expect((await api(h, 'DELETE', `/v1/experiments/${experiment.id}`)).json.jobs).toEqual([adminJob.id]);
  });

  it('is for write keys of the owner: another owner gets 404, a read key 403', async () => {
    const job = (await api(h, 'POST', '/v1/jobs', { kind: 'cpc', device: 'gpu', config: tinyConfig({ seed: 3 }) })).json.id;
    await api(h, 'POST', `/v1/jobs/${job}/cancel`);
    const stranger = (await createApiKey(h.app.db, 'stranger', ['write'])).key;
    const reader = (await createApiKey(h.app.db, 'reader', ['read'], h.owner.name)).key;
    expect((await api(h, 'DELETE', `/v1/jobs/${job}`, undefined, bearer(stranger))).json).toMatchObject({ code: 'not_found' });
    expect((await api(h, 'DELETE', `/v1/jobs/${job}`, undefined, bearer(reader))).json).toMatchObject({ code: 'scope_insufficient' });
    expect((await api(h, 'GET', `/v1/jobs/${job}`)).status).toBe(200);
  });
});

describe('error codes', () => {
  it('name what went wrong beside the message', async () => {
    const cases: Array<[string, string, unknown, Record<string, string>, number, string]> = [
      ['GET', '/v1/nowhere', undefined, {}, 404, 'route_not_found'],
      ['GET', '/v1/jobs/job_nope', undefined, {}, 404, 'not_found'],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { epoch: 5 } }, {}, 400, 'validation_failed'],
      ['POST', '/v1/jobs', '{"kind": ', {}, 400, 'invalid_json'],
      ['POST', '/v1/jobs', { kind: 'cpc', config: { batchSize: 256, terms: 16, predictTerms: 16 } }, {}, 400, 'invalid_config'],
      ['GET', '/v1/jobs', undefined, { authorization: 'Bearer cpc_nope_nope' }, 401, 'api_key_invalid'],
      ['POST', '/v1/experiments', { name: 'x' }, { authorization: '' }, 401, 'api_key_required'],
    ];
    for (const [method, path, body, headers, status, code] of cases) {
      const res = await api(h, method, path, body, headers);
      expect([method, path, res.status, res.json?.code]).toEqual([method, path, status, code]);
      expect(res.json.message).toEqual(expect.any(String));
    }
  });
});
