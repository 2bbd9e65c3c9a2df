/**
 * The quickstart's tour of the HTTP API: submit a small CPC job, follow its
 * progress over Server-Sent Events, probe it, register the model, predict.
 */
import { loadDataset } from '../src/cpc/load-dataset.js';
import { digitPixels } from '../src/cpc/images.js';
import { probeVerdict } from '../src/cpc/probe.js';
import { encodePng } from '../src/cpc/png.js';
import { apiClient, authHeaders } from './api-client.js';

const base = process.argv[2] ?? 'http://127.0.0.1:3000';
const auth = authHeaders();
const call = apiClient(base);

/** Follow a job's events, printing progress, until it ends. */
async function follow(jobId: string, label: string): Promise<any> {
  const res = await fetch(`${base}/v1/jobs/${jobId}/events`, { headers: auth });
  const decoder = new TextDecoder();
  let buffer = '';
  let lastPrinted = -1;
  for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let cut;
    while ((cut = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, cut);
      buffer = buffer.slice(cut + 2);
      const event = /event: (\w+)/.exec(frame)?.[1];
      const data = JSON.parse(/data: (.*)/.exec(frame)?.[1] ?? 'null');
      if (
        event === 'progress' &&
        typeof data?.step === 'number' &&
        data.step !== lastPrinted &&
        (data.step % 10 === 0 || data.step === data.totalSteps)
      ) {
        lastPrinted = data.step;
        process.stdout.write(
          `\r  ${label}: step ${data.step}/${data.totalSteps}  loss ${data.loss.toFixed(3)}  accuracy ${data.accuracy.toFixed(2)} (chance ${data.chance.toFixed(2)})  ${Math.round(data.imagesPerSec)} img/s   `,
        );
      } else if (event === 'progress' && data?.phase) {
        process.stdout.write(`\r  ${label}: ${data.phase}                                        `);
      } else if (event === 'end') {
        process.stdout.write('\n');
      }
    }
  }
  return call('GET', `/v1/jobs/${jobId}`);
}

const experiment = await call('POST', '/v1/experiments', {
  name: `quickstart-${new Date().toISOString()}`,
  description: 'npm run quickstart',
});
console.log(`experiment ${experiment.name}`);
const cpc = await call('POST', '/v1/jobs', {
  kind: 'cpc',
  experimentId: experiment.id,
  config: { color: 'grey', imageSize: 28, greySteps: 0, epochs: 3, stepsPerEpoch: 100, validationSteps: 8, seed: 0 },
});
const c = cpc.config;
console.log(`CPC job ${cpc.id} queued (${c.imageSize}x${c.imageSize} ${c.color} digits, ${c.loss} loss, ${cpc.totalSteps} steps)`);
const trained = await follow(cpc.id, 'CPC');
if (trained.status !== 'succeeded') throw new Error(`CPC job ${trained.status}: ${trained.error}`);
const t = trained.result.test;
console.log(
  `CPC contrastive test accuracy ${t.accuracy.toFixed(3)} (chance ${t.chance.toFixed(2)}) after ${trained.result.steps} steps ` +
    `in ${trained.result.seconds.toFixed(0)} s on the ${trained.backend} backend`,
);

const probe = await call('POST', '/v1/jobs', {
  kind: 'probe',
  cpcJobId: cpc.id,
  experimentId: experiment.id,
  config: { trainImages: 3000, testImages: 1000, epochs: 5 },
});
console.log(`probe job ${probe.id} queued (frozen encoder; MLP and linear heads; raw-pixel and random-encoder baselines)`);
const probed = await follow(probe.id, 'probe');
if (probed.status !== 'succeeded') throw new Error(`probe job ${probed.status}: ${probed.error}`);
const r = probed.result;
console.log(`digit test accuracy (${r.testImages} test images, MLP head / linear head):`);
console.log(`  CPC encoder     ${r.cpc.mlp.toFixed(3)} / ${r.cpc.linear.toFixed(3)}`);
console.log(`  random encoder  ${r.randomEncoder.mlp.toFixed(3)} / ${r.randomEncoder.linear.toFixed(3)}`);
console.log(`  raw pixels      ${r.rawPixels.mlp.toFixed(3)} / ${r.rawPixels.linear.toFixed(3)}`);
console.log(probeVerdict(r));

const model = await call('POST', '/v1/models', { name: 'quickstart-digits', jobId: probe.id });
console.log(`registered model ${model.name} version ${model.version}`);
const test = loadDataset().splits.test;
const png = encodePng(28, 28, Uint8Array.from(Array.from(digitPixels(test, 0)).flatMap((v) => [v, v, v]))).toString('base64');
const prediction = await call('POST', `/v1/models/${model.name}/predict`, { instances: [{ png }] });
const p = prediction.predictions[0];
console.log(
  `prediction for MNIST test image #0 (label ${test.labels[0]}): class ${p.className}, p = ${Math.max(...p.probabilities).toFixed(3)}`,
);
