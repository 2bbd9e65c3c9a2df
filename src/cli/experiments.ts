/**
 * cpc experiments create | list | show | compare | sweep: experiments of the service over HTTP
 * (service.ts: --url or CPC_URL, key CPC_API_KEY). A sweep is a JSON file in the body format
 * of POST /v1/experiments/:id/sweeps (README).
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { UsageError } from './usage-error.js';
import { output, serviceClient, show, urlOption, type ServiceFlags } from './service.js';
import { deletedLine, type Deleted } from './jobs.js';
import { jobLine } from './jobs.js';

interface Experiment {
  id: string;
  name: string;
  description: string;
  createdAt: string;
}

interface Detail extends Experiment {
  status: string;
  jobCount: number;
  byStatus: Record<string, number>;
  progress: number;
  jobs: Array<Parameters<typeof jobLine>[0] & { bestMetrics: Array<{ split: string; name: string; value: number }> }>;
}

interface Comparison {
  metric: string | null;
  differing: string[];
  best: { jobId: string; value: number; config: Record<string, unknown> } | null;
  rows: Array<{ jobId: string; status: string; rank: number | null; config: Record<string, unknown>; values: Record<string, number> }>;
}

const experimentLine = (e: Experiment) => `${e.id}  ${e.name}${e.description ? `  (${e.description})` : ''}`;

function describeDetail(d: Detail): string {
  const counts = Object.entries(d.byStatus)
    .filter(([, n]) => n > 0)
    .map(([s, n]) => `${n} ${s}`)
    .join(', ');
  return [
    `${experimentLine(d)}`,
    `  ${d.status}, ${d.jobCount} job${d.jobCount === 1 ? '' : 's'}${counts ? ` (${counts})` : ''}, ${Math.round(d.progress * 100)}% done`,
    ...d.jobs.map((j) => `  ${jobLine(j)}`),
  ].join('\n');
}

/** a config path's value (`model.codeSize`) */
const at = (config: Record<string, unknown>, path: string) =>
  path.split('.').reduce<unknown>((v, k) => (v && typeof v === 'object' ? (v as Record<string, unknown>)[k] : undefined), config);

function describeComparison(c: Comparison): string {
  if (!c.rows.length) return '(no jobs)';
  const lines = [`ranked by ${c.metric ?? '(no metric yet)'}; differing: ${c.differing.join(', ') || '(nothing)'}`];
  for (const r of c.rows) {
    const fields = c.differing.map((k) => `${k}=${show(k === 'datasetId' ? undefined : at(r.config, k))}`).join(' ');
    const score = c.metric && Object.hasOwn(r.values, c.metric) ? show(r.values[c.metric]) : '-';
    lines.push(`${r.rank === null ? ' -' : `#${r.rank}`.padStart(2)}  ${r.jobId}  ${r.status.padEnd(9)}  ${score}  ${fields}`);
  }
  if (c.best) lines.push(`best: ${c.best.jobId} (${show(c.best.value)}) ${JSON.stringify(c.best.config)}`);
  return lines.join('\n');
}

export function experimentsCommand(): Command {
  const experiments = new Command('experiments').description('experiments of the service (/v1/experiments); key: CPC_API_KEY');
  experiments
    .command('create')
    .argument('<name>')
    .option('--description <text>', 'what it is for')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (name: string, f: ServiceFlags & { description?: string }) =>
      output(f, await serviceClient(f).send<Experiment>('POST', '/v1/experiments', { name, description: f.description }), experimentLine),
    );
  experiments
    .command('list')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (f: ServiceFlags) => {
      const page = await serviceClient(f).get<{ items: Experiment[] }>('/v1/experiments?limit=200');
      output(f, page, (p) => (p.items.length ? p.items.map(experimentLine).join('\n') : '(no experiments)'));
    });
  experiments
    .command('show')
    .description('its status, counts, progress and jobs')
    .argument('<id>')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).get<Detail>(`/v1/experiments/${encodeURIComponent(id)}`), describeDetail),
    );
  experiments
    .command('delete')
    .description('delete an experiment with all its jobs and their files (refused while one runs or is a model version)')
    .argument('<id>')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags) =>
      output(f, await serviceClient(f).send<Deleted>('DELETE', `/v1/experiments/${encodeURIComponent(id)}`), deletedLine),
    );
  experiments
    .command('compare')
    .description('its jobs side by side, best first')
    .argument('<id>')
    .option('--metric <name>', 'rank by <split>/<name> or probe/<name>')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (id: string, f: ServiceFlags & { metric?: string }) => {
      const query = f.metric ? `?metric=${encodeURIComponent(f.metric)}` : '';
      output(f, await serviceClient(f).get<Comparison>(`/v1/experiments/${encodeURIComponent(id)}/compare${query}`), describeComparison);
    });
  experiments
    .command('sweep')
    .description('submit a sweep: a JSON file {base?, grid? | random?, maxJobs?, probe?} (README)')
    .argument('<id>')
    .argument('<file>', 'the sweep as JSON')
    .option('--idempotency-key <key>', 'the same key and sweep again answer the same jobs')
    .addOption(urlOption())
    .option('--json', 'as JSON')
    .action(async (id: string, file: string, f: ServiceFlags & { idempotencyKey?: string }) => {
      let body: unknown;
      try {
        body = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new UsageError(
          `${file}: ${(err as { code?: string }).code ? 'cannot read it' : `not valid JSON (${(err as Error).message})`}`,
        );
      }
      const headers: Record<string, string> = f.idempotencyKey ? { 'idempotency-key': f.idempotencyKey } : {};
      const sweep = await serviceClient(f).send<{ points: Array<{ values: object; jobId: string }> }>(
        'POST',
        `/v1/experiments/${encodeURIComponent(id)}/sweeps`,
        body,
        headers,
      );
      output(f, sweep, (s) => s.points.map((p) => `${p.jobId}  ${JSON.stringify(p.values)}`).join('\n'));
    });
  return experiments;
}
