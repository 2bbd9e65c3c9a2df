/**
 * A data set of our own through the whole service, measured: upload a PNG-folder data set (made by
 * scripts/make-font-dataset.py), train CPC on it, probe the frozen encoder beside a random-init
 * encoder and raw pixels (linear and MLP heads, on every test image), register the model and ask
 * it for one prediction by class name. Prints one JSON line (BENCHMARKS.md records it).
 *
 *   node --import tsx scripts/bench-datasets.ts URL DATASET_DIR [--steps N] [--seed S]
 * (scripts/bench-datasets.sh starts the service and makes the data set first)
 */
import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { apiClient } from './api-client.js';

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: { steps: { type: 'string', default: '400' }, seed: { type: 'string', default: '0' } },
});
const [base, dir] = positionals;
if (!base || !dir) throw new Error('usage: bench-datasets.ts URL DATASET_DIR [--steps N] [--seed S]');
const call = apiClient(base);

async function finished(id: string): Promise<any> {
  for (;;) {
    const job = await call('GET', `/v1/jobs/${id}`);
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      if (job.status !== 'succeeded') throw new Error(`job ${id} ${job.status}: ${job.error}`);
      return job;
    }
    process.stderr.write(`\r  job ${id}: ${job.status} step ${job.step}/${job.totalSteps}   `);
    await new Promise((r) => setTimeout(r, 2000));
  }
}

const seed = Number(values.seed);
const started = Date.now();
const cli = join(import.meta.dirname, '..', 'bin', 'cpc.js');
const uploaded = JSON.parse(
  execFileSync(process.execPath, [cli, 'datasets', 'upload', dir, '--name', `fonts-${Date.now()}`, '--json'], {
    env: { ...process.env, CPC_URL: base },
    encoding: 'utf8',
  }),
);
const uploadSeconds = (Date.now() - started) / 1000;
process.stderr.write(`uploaded ${uploaded.id}: ${uploaded.classNames.length} classes, ${JSON.stringify(uploaded.images)}\n`);
const steps = Number(values.steps);
const config = {
  seed,
  task: 'same',
  imageSize: 28,
  color: 'grey',
  greySteps: 0,
  epochs: 4,
  stepsPerEpoch: Math.ceil(steps / 4),
  validationSteps: 10,
};
const cpc = await call('POST', '/v1/jobs', { kind: 'cpc', datasetId: uploaded.id, config });
const trained = await finished(cpc.id);
const probe = await call('POST', '/v1/jobs', {
  kind: 'probe',
  cpcJobId: cpc.id,
  // more than the splits hold: every training and every test image once
  config: { trainImages: 50_000, testImages: 10_000, epochs: 20 },
});
const probed = await finished(probe.id);
process.stderr.write('\n');
const model = await call('POST', '/v1/models', { name: `fonts-${seed}`, jobId: probe.id });
// one test image of the first class, as its PNG file
const first = uploaded.classNames[0];
const png = readFileSync(join(dir, first, readdirSync(join(dir, first)).sort()[0])).toString('base64');
const prediction = (await call('POST', `/v1/models/${model.name}/predict`, { instances: [{ png }] })).predictions[0];
const r = probed.result;
console.log(
  JSON.stringify({
    dataset: { id: uploaded.id, classes: uploaded.classNames.length, images: uploaded.images, image: uploaded.image, uploadSeconds },
    cpc: {
      config,
      steps: trained.result.steps,
      seconds: Math.round(trained.result.seconds),
      backend: trained.backend,
      test: trained.result.test,
    },
    probe: {
      trainImages: r.trainImages,
      testImages: r.testImages,
      chance: 1 / uploaded.classNames.length,
      mlp: { cpc: r.cpc.mlp, randomEncoder: r.randomEncoder.mlp, rawPixels: r.rawPixels.mlp },
      linear: { cpc: r.cpc.linear, randomEncoder: r.randomEncoder.linear, rawPixels: r.rawPixels.linear },
      seconds: Math.round(r.seconds),
    },
    prediction: { file: `${first}/…`, className: prediction.className, p: Math.max(...prediction.probabilities) },
  }),
);
