/**
 * cpc jobs submit | probe | list | show | watch | logs | cancel | retry | delete: the service's jobs over HTTP
 * (service.ts: --url or CPC_URL, key CPC_API_KEY). A submission's config comes from the same
 * flags and config file as `cpc train` and is checked against the same fields as the API
 * before anything is sent. `watch` follows a job's event stream with a progress bar.
 */
import { Command, Option } from 'commander';
import { addConfigFlags, configFromFileAndFlags, resolveFileAndFlags, PROBE_FLAGS, probeConfigFromFlags } from './config-flags.js';
import { checkProbeInput } from '../cpc/probe.js';
import { makeReporter } from './progress.js';
import { UsageError } from './usage-error.js';
import { int } from './parsers.js';
import { output, serviceClient, show, urlOption, type ServiceClient, type ServiceFlags } from './service.js';

interface Job {
  id: string;
  kind: string;
  status: string;
  progress: number;
  step: number;
  totalSteps: number;
  seed: number;
  datasetId: string;
  device: string;
  backend: string | null;
  experimentId: string | null;
  error: string | null;
  attempts: number;
  createdAt: string;
  result: Record<string, unknown> | null;
}

interface Metric {
  step: number;
  split: string;
  name: string;
  value: number;
}

const FINAL = ['succeeded', 'failed', 'cancelled'];

export const jobLine = (j: Job) =>
  [
    j.id,
    j.kind.padEnd(5),
    j.status.padEnd(9),
    `${Math.round(j.progress * 100)}%`.padStart(4),
    j.totalSteps ? `step ${j.step}/${j.totalSteps}` : '',
    `data ${j.datasetId}`,
    j.backend ? `on ${j.backend}` : '',
    j.error ? `error: ${j.error}` : '',
  ]
    .filter(Boolean)
    .join('  ');

function describeJob(j: Job & { latestMetrics?: Metric[] }): string {
  const lines = [jobLine(j), `  seed ${j.seed}, device ${j.device}, attempts ${j.attempts}, created ${j.createdAt}`];
  if (j.experimentId) lines.push(`  experiment ${j.experimentId}`);
  for (const m of j.latestMetrics ?? []) lines.push(`  ${m.split}/${m.name} = ${show(m.value)} (step ${m.step})`);
  return lines.join('\n');
}

interface SubmitFlags extends ServiceFlags {
  config?: string;
  dataset?: string;
  experiment?: string;
  priority?: number;
  device?: string;
  idempotencyKey?: string;
  watch?: boolean;
  [flag: string]: unknown;
}

const idempotencyHeader = (f: SubmitFlags): Record<string, string> => (f.idempotencyKey ? { 'idempotency-key': f.idempotencyKey } : {});

async function submitted(client: ServiceClient, f: SubmitFlags, body: object): Promise<void> {
  const job = await client.send<Job>('POST', '/v1/jobs', body, idempotencyHeader(f));
  output(f, job, jobLine);
  if (f.watch) await watch(client, job.id, f);
}

/**
 * Follow a job until it ends: a progress bar on a terminal (step, loss, accuracy beside its
 * chance level, images/s, ETA), JSON lines with --json. Exit code 1 unless it succeeded.
 */
async function watch(client: ServiceClient, id: string, f: ServiceFlags): Promise<void> {
  const reporter = makeReporter(Boolean(f.json));
  let started = false;
  let final: Job | null = null;
  await client.events(`/v1/jobs/${encodeURIComponent(id)}/events`, (event, data) => {
    if (event === 'status') {
      const job = data as Job;
      if (FINAL.includes(job.status)) final = job;
      else if (f.json) reporter.event({ event: 'status', status: job.status, attempts: job.attempts });
    } else if (event === 'progress') {
      const p = data as {
        step?: number;
        totalSteps?: number;
        loss?: number;
        accuracy?: number;
        chance?: number;
        imagesPerSec?: number;
        phase?: string;
      };
      if (p.phase !== undefined) return void reporter.event({ event: 'phase', phase: p.phase });
      if (p.step === undefined || !p.totalSteps) return;
      if (!started) {
        // (from the first step reported: the steps before it were not timed here, and counting
        // them as done at once made the ETA far too short)
        reporter.start(p.totalSteps, id, p.step);
        started = true;
      }
      reporter.update(p.step, {
        loss: show(p.loss ?? NaN),
        accuracy: show(p.accuracy ?? NaN),
        chance: show(p.chance ?? NaN),
        imagesPerSec: Math.round(p.imagesPerSec ?? 0),
      });
    } else if (event === 'end') return true;
  });
  reporter.stop();
  const job = final ?? (await client.get<Job>(`/v1/jobs/${encodeURIComponent(id)}`));
  if (f.json) reporter.event({ event: 'end', status: job.status, error: job.error, result: job.result });
  else process.stderr.write(`${jobLine(job)}\n`);
  if (job.status !== 'succeeded') process.exitCode = 1;
}

/** `--probe` alone: the default probe; `--probe JSON`: those fields, checked as the API checks them */
function probeFields(value: boolean | string): Record<string, unknown> {
  if (value === true) return {};
  try {
    const fields: unknown = JSON.parse(String(value));
    if (!fields || typeof fields !== 'object' || Array.isArray(fields)) throw new Error('give a JSON object of probe fields');
    return checkProbeInput(fields as Record<string, unknown>);
  } catch (err) {
    throw new UsageError(`--probe: ${(err as Error).message}`);
  }
}

export function jobsCommand(): Command {
  const jobs = new Command('jobs').description('jobs of the service (POST/GET /v1/jobs); key: CPC_API_KEY');
  const common = (c: Command) =>
    c
      .option('--experiment <id>', 'add the job to this experiment')
      .option('--priority <n>', 'higher runs sooner (0-100, default 50)', int('--priority'))
      .addOption(new Option('--device <where>', 'the workers it may run on').choices(['any', 'gpu', 'cpu']))
      .option('--idempotency-key <key>', 'the same key and request again answer the same job')
      .option('--watch', 'then follow it until it ends')
      .addOption(urlOption())
      .option('--json', 'JSON output');

  const submit = jobs.command('submit').description('submit a CPC training job: config from --config FILE and the flags of cpc train');
  addConfigFlags(submit);
  common(submit)
    .option('--config <file>', 'JSON file with config fields (flags override it)')
    .option('--dataset <id>', 'the data set (default mnist; cpc datasets list)')
    .option('--probe [fields]', 'probe the encoder once the job succeeds; optional JSON of probe fields, e.g. \'{"trainImages":5000}\'')
    .action(async (f: SubmitFlags & { probe?: boolean | string }) => {
      const config = configFromFileAndFlags(f, false);
      // the cross-field checks too (binary with cosine, a floor above the rate...), as the API makes them: a usage mistake, exit 2
      resolveFileAndFlags(config, f);
      const probe = f.probe === undefined ? undefined : probeFields(f.probe);
      await submitted(serviceClient(f), f, {
        kind: 'cpc',
        config,
        ...(f.dataset ? { datasetId: f.dataset } : {}),
        ...(f.experiment ? { experimentId: f.experiment } : {}),
        ...(f.priority !== undefined ? { priority: f.priority } : {}),
        ...(f.device ? { device: f.device } : {}),
        ...(probe ? { probe } : {}),
      });
    });

  const probe = jobs.command('probe').description("submit a probe of a succeeded CPC job's frozen encoder").argument('<cpc-job-id>');
  addConfigFlags(probe, PROBE_FLAGS);
  common(probe)
    .option('--dataset <id>', "the data set to probe on (default: the CPC job's)")
    .action(async (cpcJobId: string, f: SubmitFlags) => {
      let config;
      try {
        config = checkProbeInput(probeConfigFromFlags(f));
      } catch (err) {
        throw new UsageError((err as Error).message);
      }
      await submitted(serviceClient(f), f, {
        kind: 'probe',
        cpcJobId,
        config,
        ...(f.dataset ? { datasetId: f.dataset } : {}),
        ...(f.experiment ? { experimentId: f.experiment } : {}),
        ...(f.priority !== undefined ? { priority: f.priority } : {}),
        ...(f.device ? { device: f.device } : {}),
      });
    });

  jobs
    .command('list')
    .description('jobs, newest first')
    .addOption(new Option('--status <status>').choices(['queued', 'running', 'succeeded', 'failed', 'cancelled']))
    .addOption(new Option('--kind <kind>').choices(['cpc', 'probe']))
    .option('--experiment <id>', 'only this experiment')
    .option('--limit <n>', 'at most this many (1-200)', int('--limit'), 50)
    .addOption(urlOption())
    .option('--json', 'the page as JSON')
    .action(async (f: ServiceFlags & { status?: string; kind?: string; experiment?: string; limit: number }) => {
      const query = new URLSearchParams({ limit: String(f.limit) });
      if (f.status) query.set('status', f.status);
      if (f.kind) query.set('kind', f.kind);
      if (f.experiment) query.set('experimentId', f.experiment);
      const page = await serviceClient(f).get<{ items: Job[]; total: number }>(`/v1/jobs?${query}`);
      output(f, page, (p) =>
        [...p.items.map(jobLine), ...(p.total > p.items.length ? [`(${p.items.length} of ${p.total}; --limit for more)`] : [])].join('\n'),
      );
    });

  const byId = (name: string, description: string) =>
    jobs.command(name).description(description).argument('<job-id>').addOption(urlOption());
  byId('show', 'a job with its latest metrics')
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).get<Job>(`/v1/jobs/${encodeURIComponent(id)}`), describeJob),
    );
  byId('watch', 'follow a job until it ends (exit code 1 unless it succeeded)')
    .option('--json', 'JSON lines')
    .action((id: string, f: ServiceFlags) => watch(serviceClient(f), id, f));
  byId('logs', "a job's log: every attempt's lines (--follow: new lines as they come, until the job ends)")
    .option('--follow', 'keep printing new lines until the job ends')
    .option('--json', 'JSON lines ({id, attempt, time, level, message})')
    .action(async (id: string, f: ServiceFlags & { follow?: boolean }) => {
      const client = serviceClient(f);
      const path = `/v1/jobs/${encodeURIComponent(id)}/logs`;
      if (!f.follow) return void process.stdout.write(await client.text(f.json ? `${path}?format=jsonl` : path));
      await client.events(`${path}?follow=true`, (event, data) => {
        if (event === 'end') return true;
        if (event !== 'log') return;
        const line = data as { attempt: number; time: string; level: string; message: string };
        process.stdout.write(
          f.json ? `${JSON.stringify(line)}\n` : `${line.time} #${line.attempt} ${line.level.toUpperCase().padEnd(5)} ${line.message}\n`,
        );
      });
    });
  byId('cancel', 'cancel a job: a queued one ends at once, a running one at its next step')
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).send<Job>('POST', `/v1/jobs/${encodeURIComponent(id)}/cancel`), (j) =>
        j.status === 'running' ? `${jobLine(j)}  (cancel requested: it stops at its next step)` : jobLine(j),
      ),
    );
  byId('retry', 'queue a failed or cancelled job again (training resumes from its checkpoint)')
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).send<Job>('POST', `/v1/jobs/${encodeURIComponent(id)}/retry`), jobLine),
    );
  byId('delete', 'delete a final job with its probes, metrics, log and files (refused while one is running or is a model version)')
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).send<Deleted>('DELETE', `/v1/jobs/${encodeURIComponent(id)}`), deletedLine),
    );
  return jobs;
}

/** what a deletion answered (DELETE /v1/jobs/:id, /v1/experiments/:id) */
export interface Deleted {
  jobs: string[];
  artifacts: number;
}

export const deletedLine = (d: Deleted) => `deleted ${d.jobs.length} job(s) (${d.jobs.join(', ') || 'none'}) and ${d.artifacts} file(s)`;
