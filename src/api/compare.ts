/**
 * An experiment's jobs side by side: one row per CPC job (its probes' test scores joined in as
 * `probe/<name>`), and one per probe whose CPC job is not in the experiment; the config fields
 * whose values differ between rows; and the rows ranked by one metric, best first.
 */
import type { JobWithScores } from '../store/experiments.js';
import { betterDirection } from '../store/experiment-summary.js';
import { clientConfig } from './dto.js';
import type { JobStatus } from '../generated/prisma/client.js';

/** the metrics a comparison ranks by when not told, the first that any row has */
export const DEFAULT_RANKING = ['probe/cpc_mlp_accuracy', 'test/accuracy', 'valid/accuracy'];

export interface ComparisonRow {
  jobId: string;
  kind: string;
  status: JobStatus;
  seed: number;
  datasetId: string;
  probeJobIds: string[];
  config: Record<string, unknown>;
  /** `<split>/<name>`: each series' latest value (training's step series are left out but for loss and accuracy) */
  values: Record<string, number>;
  /** 1 for the best by the ranking metric; null for a row without it */
  rank: number | null;
}

export interface Comparison {
  metric: string | null;
  goal: 'max' | 'min' | null;
  differing: string[];
  rows: ComparisonRow[];
  best: { jobId: string; value: number; config: Record<string, unknown> } | null;
}

const SHOWN_TRAIN = new Set(['loss', 'accuracy']);

function valuesOf({ latest }: JobWithScores, prefix?: string): Record<string, number> {
  const values: Record<string, number> = {};
  for (const v of latest) {
    if (v.split === 'train' && !SHOWN_TRAIN.has(v.name)) continue;
    if (v.name === 'chance' && v.split !== 'test') continue;
    values[prefix ? `${prefix}/${v.name}` : `${v.split}/${v.name}`] = v.value;
  }
  return values;
}

/** config fields flattened to paths (`model.codeSize`) */
function flatten(config: Record<string, unknown>, prefix = ''): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(config).flatMap(([k, v]) =>
      v && typeof v === 'object' && !Array.isArray(v)
        ? Object.entries(flatten(v as Record<string, unknown>, `${prefix}${k}.`))
        : [[`${prefix}${k}`, v]],
    ),
  );
}

export function compare(jobs: JobWithScores[], metric?: string): Comparison {
  const ids = new Set(jobs.map((j) => j.job.id));
  const rows: ComparisonRow[] = [];
  for (const entry of jobs) {
    const { job } = entry;
    if (job.kind === 'probe' && job.parentJobId && ids.has(job.parentJobId)) continue;
    const probes = job.kind === 'cpc' ? jobs.filter((p) => p.job.parentJobId === job.id) : [];
    const values = valuesOf(entry);
    // (the latest probe's scores, when there are several)
    for (const probe of probes) Object.assign(values, valuesOf(probe, 'probe'));
    rows.push({
      jobId: job.id,
      kind: job.kind,
      status: job.status,
      seed: job.seed,
      datasetId: job.datasetId,
      probeJobIds: probes.map((p) => p.job.id),
      config: clientConfig(job.config),
      values,
      rank: null,
    });
  }
  const flat = rows.map((r) => flatten({ ...r.config, datasetId: r.datasetId }));
  const keys = [...new Set(flat.flatMap((f) => Object.keys(f)))].sort();
  const differing = keys.filter((k) => new Set(flat.map((f) => JSON.stringify(f[k] ?? null))).size > 1);

  const has = (r: ComparisonRow, m: string) => Object.hasOwn(r.values, m);
  const chosen = metric ?? DEFAULT_RANKING.find((m) => rows.some((r) => has(r, m))) ?? null;
  const goal = chosen ? (betterDirection(chosen.split('/').pop()!) ?? 'max') : null;
  if (!chosen) return { metric: null, goal: null, differing, rows, best: null };
  const ranked = rows.filter((r) => has(r, chosen)).sort((a, b) => (goal === 'max' ? -1 : 1) * (a.values[chosen] - b.values[chosen]));
  ranked.forEach((r, i) => (r.rank = i + 1));
  rows.sort((a, b) => (a.rank ?? Infinity) - (b.rank ?? Infinity));
  const top = ranked[0];
  const best = top
    ? {
        jobId: top.jobId,
        value: top.values[chosen],
        config: Object.fromEntries(differing.map((k) => [k, flatten({ ...top.config, datasetId: top.datasetId })[k] ?? null])),
      }
    : null;
  return { metric: chosen, goal, differing, rows, best };
}
