/**
 * The `cpc` CLI as a client of the service (jobs, models, experiments), run as a user runs it:
 * the real binary against real Redis, PostgreSQL and a worker. Exit codes: 0 done, 1 the
 * service refused or the job did not succeed, 2 a mistake in how cpc was called.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startHarness, cpcCli, waitFor, api, type Harness } from './harness.js';
import { tinyConfig } from './fixtures.js';

let h: Harness;
const dir = mkdtempSync(join(tmpdir(), 'cpc-cli-client-'));
const configFile = join(dir, 'tiny.json');
const cpc = (...args: string[]) => cpcCli(h, args);
const jsonLines = (out: string) =>
  out
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as Record<string, any>);

beforeAll(async () => {
  h = await startHarness();
  writeFileSync(configFile, JSON.stringify(tinyConfig({ stepsPerEpoch: 6 })));
}, 120_000);

afterAll(async () => {
  await h?.stop();
});

describe('cpc as a client of the service', () => {
  it('--version prints the package version', async () => {
    const version = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'package.json'), 'utf8')).version;
    expect(await cpc('--version')).toMatchObject({ code: 0, stdout: `${version}\n` });
  });

  it('usage mistakes exit 2 with a helpful line and send nothing', async () => {
    const unknown = await cpc('jobs', 'submit', '--epoch', '3');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/unknown option '--epoch'\n\(Did you mean --epochs\?\)/);
    const badFile = join(dir, 'bad.json');
    writeFileSync(badFile, JSON.stringify({ epoch: 3 }));
    expect(await cpc('jobs', 'submit', '--config', badFile)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown config field "epoch"; did you mean "epochs"/),
    });
    // a field only the engine's own CLI takes is refused as the API refuses it
    writeFileSync(badFile, JSON.stringify({ workers: 2 }));
    expect(await cpc('jobs', 'submit', '--config', badFile)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/unknown config field "workers"/),
    });
    expect(await cpc('jobs', 'submit', '--epochs', '0')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--epochs must be in \[1, /),
    });
    expect(await cpc('jobs', 'probe', 'job_x', '--train-images', '-5')).toMatchObject({ code: 2 });
    expect(await cpc('jobs', 'submit', '--probe', '{"trainImages":-5}')).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--probe: .*trainImages/),
    });
    expect(await cpc('jobs', 'submit', '--probe', '{nope')).toMatchObject({ code: 2, stderr: expect.stringMatching(/--probe: /) });
    const sample = join(dir, 'sample.png');
    expect(await cpc('data', 'sample', '--rows', '0', '--out', sample)).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/rows must be at least 1/),
    });
    expect(existsSync(sample)).toBe(false);
    expect((await api(h, 'GET', '/v1/jobs')).json.total).toBe(0);
  });

  it('the service refusing, or away, is exit 1 with its message', async () => {
    expect(await cpc('jobs', 'show', 'job_nope')).toMatchObject({ code: 1, stderr: 'cpc: 404 Not Found: no job job_nope\n' });
    expect(await cpcCli(h, ['jobs', 'list'], { CPC_API_KEY: 'cpc_wrong' })).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/^cpc: 401 /),
    });
    expect(await cpcCli(h, ['jobs', 'list'], { CPC_URL: 'http://127.0.0.1:45999' })).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/cannot reach the service at http:\/\/127.0.0.1:45999 \(ECONNREFUSED\)/),
    });
  });

  it('submit --probe --watch follows the job to its end; the probe follows; register, list, predict a PNG', async () => {
    const experiment = await cpc('experiments', 'create', 'cli tour', '--json');
    expect(experiment.code).toBe(0);
    const experimentId = JSON.parse(experiment.stdout).id;
    const run = await cpc(
      'jobs',
      'submit',
      '--config',
      configFile,
      '--seed',
      '3',
      '--experiment',
      experimentId,
      '--probe',
      '--watch',
      '--json',
    );
    expect(run.code, run.stderr).toBe(0);
    const lines = jsonLines(run.stdout);
    const job = lines[0];
    expect(job).toMatchObject({ kind: 'cpc', status: 'queued', seed: 3, experimentId, pendingProbe: expect.any(Object) });
    const steps = lines.filter((l) => l.event === 'step');
    expect(steps.length).toBeGreaterThan(0);
    expect(steps.at(-1)).toMatchObject({ step: expect.any(Number), loss: expect.any(String), chance: expect.any(String) });
    expect(lines.at(-1)).toMatchObject({ event: 'end', status: 'succeeded' });

    const shown = await cpc('jobs', 'show', job.id);
    expect(shown.stdout).toMatch(new RegExp(`^${job.id}  cpc\\s+succeeded\\s+100%`));
    expect(shown.stdout).toMatch(/test\/accuracy = /);
    const log = await cpc('jobs', 'logs', job.id);
    expect(log.stdout).toMatch(/#1 INFO {2}attempt 1 started on /);
    expect(log.stdout).toMatch(/attempt succeeded\n$/);
    const followed = await cpc('jobs', 'logs', job.id, '--follow', '--json');
    expect(jsonLines(followed.stdout).map((l) => l.message)).toEqual(
      log.stdout
        .trim()
        .split('\n')
        .map((l) => l.split(/ +INFO +| +WARN +/)[1]),
    );

    const probe = await waitFor('the probe it asked for', async () => {
      const listed = jsonLines((await cpc('jobs', 'list', '--kind', 'probe', '--json')).stdout)[0];
      return listed.items[0];
    });
    expect(probe).toMatchObject({ parentJobId: job.id, experimentId });
    const watched = await cpc('jobs', 'watch', probe.id, '--json');
    expect([watched.code, jsonLines(watched.stdout).at(-1)]).toEqual([0, expect.objectContaining({ event: 'end', status: 'succeeded' })]);

    expect(await cpc('models', 'register', 'tour', probe.id)).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^tour v1 {2}mlp head {2}data mnist \(10 classes\)/),
    });
    expect((await cpc('models', 'list')).stdout).toMatch(/^tour v1 /m);
    expect((await cpc('models', 'show', 'tour')).stdout).toMatch(/classes: 0, 1, 2, 3, 4, 5, 6, 7, 8, 9/);
    const png = join(dir, 'digit.png');
    expect((await cpc('data', 'digit', '--index', '0', '--out', png)).code).toBe(0);
    const predicted = await cpc('models', 'predict', 'tour', png);
    expect(predicted.code, predicted.stderr).toBe(0);
    const prediction = jsonLines(predicted.stdout)[0];
    expect(prediction).toMatchObject({ file: png, model: 'tour', version: 1, className: expect.any(String) });
    expect(prediction.probabilities).toHaveLength(10);
    expect(await cpc('models', 'predict', 'nope', png)).toMatchObject({ code: 1, stderr: expect.stringMatching(/404/) });
    expect((await cpc('models', 'alias', 'tour', 'production', '1')).stdout).toMatch(/^tour v1 \(production\)/);
    const byAlias = jsonLines((await cpc('models', 'predict', 'tour', png, '--version', 'production')).stdout)[0];
    expect(byAlias).toMatchObject({ version: 1, className: prediction.className });
    expect(await cpc('models', 'alias', 'tour', 'production')).toMatchObject({ code: 2 });
    expect(await cpc('models', 'alias', 'tour', 'production', '--remove')).toMatchObject({ code: 0 });
    expect(await cpc('models', 'show', 'tour', '--version', 'production')).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/404 Not Found: model tour has no alias production/),
    });
    expect(await cpc('models', 'predict', 'tour', join(dir, 'missing.png'))).toMatchObject({ code: 2 });
    const near = jsonLines((await cpc('models', 'predict', 'tour', png, '--neighbours', '3')).stdout)[0];
    expect(near.neighbours.map((n: { className: string }) => n.className)).toHaveLength(3);
    expect(await cpc('models', 'predict', 'tour', png, '--neighbours', '0')).toMatchObject({ code: 2 });

    const detail = await cpc('experiments', 'show', experimentId);
    expect(detail.stdout).toMatch(/succeeded, 2 jobs \(2 succeeded\), 100% done/);
    const compared = await cpc('experiments', 'compare', experimentId);
    expect(compared.stdout).toMatch(/^ranked by probe\/cpc_mlp_accuracy/);
    expect(compared.stdout).toMatch(new RegExp(`#1  ${job.id}  succeeded`));
    // a job that is over cannot be cancelled: the service says why
    expect(await cpc('jobs', 'cancel', job.id)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/409 Conflict: job .* is already succeeded/),
    });
  }, 300_000);

  it('watch exits 1 for a job that does not succeed', async () => {
    const submitted = jsonLines((await cpc('jobs', 'submit', '--config', configFile, '--epochs', '50', '--json')).stdout)[0];
    const watching = cpc('jobs', 'watch', submitted.id);
    await waitFor('the job to run', async () => (await api(h, 'GET', `/v1/jobs/${submitted.id}`)).json.status === 'running');
    expect((await cpc('jobs', 'cancel', submitted.id)).code).toBe(0);
    const watched = await watching;
    expect(watched.code).toBe(1);
    expect(watched.stderr).toMatch(new RegExp(`${submitted.id}  cpc\\s+cancelled`));
    expect((await cpc('jobs', 'retry', submitted.id, '--json')).stdout).toMatch(/"status":"queued"/);
    // a job that runs cannot be deleted; once cancelled it can
    await waitFor('the job to run again', async () => (await api(h, 'GET', `/v1/jobs/${submitted.id}`)).json.status !== 'queued');
    expect(await cpc('jobs', 'delete', submitted.id)).toMatchObject({
      code: 1,
      stderr: expect.stringMatching(/409 Conflict: job .* is running/),
    });
    await cpc('jobs', 'cancel', submitted.id);
    await waitFor('cancelled', async () => (await api(h, 'GET', `/v1/jobs/${submitted.id}`)).json.status === 'cancelled');
    expect((await cpc('jobs', 'delete', submitted.id)).stdout).toMatch(
      new RegExp(`^deleted 1 job\\(s\\) \\(${submitted.id}\\) and \\d+ file\\(s\\)`),
    );
    expect(await cpc('models', 'delete', 'tour', 'x')).toMatchObject({ code: 2 });
  }, 180_000);
});
