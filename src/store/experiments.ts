/** The experiments repository: an owner's named groups of jobs, and what their jobs add up to. */
import type { Db } from './db.js';
import { Prisma } from '../generated/prisma/client.js';
import { Conflict, isUniqueViolation, NotFound } from './errors.js';
import type { Page, Scope } from './scope.js';
import type { JobRow } from './jobs.js';
import { betterDirection, summarize, type ExperimentSummary } from './experiment-summary.js';

/** the most jobs an experiment's detail lists (its counts and progress cover all of them) */
export const JOBS_LISTED = 200;
/** the most jobs a comparison reads (it says when there were more) */
export const JOBS_COMPARED = 1000;

/** a (split, name) series' value: its latest, or its best (the direction says which end is best) */
export interface SeriesValue {
  split: string;
  name: string;
  step: number;
  value: number;
  goal?: 'max' | 'min';
}

export interface JobWithScores {
  job: JobRow;
  latest: SeriesValue[];
  best: SeriesValue[];
}

export interface ExperimentDetail {
  experiment: Awaited<ReturnType<Db['experiment']['findFirstOrThrow']>>;
  summary: ExperimentSummary;
  /** the first JOBS_LISTED jobs, oldest first */
  jobs: JobWithScores[];
}

interface SeriesRow {
  job_id: string;
  split: string;
  name: string;
  step: number;
  value: number;
}

const byJob = (rows: SeriesRow[]) => {
  const map = new Map<string, SeriesValue[]>();
  for (const r of rows) {
    const goal = betterDirection(r.name);
    const value: SeriesValue = { split: r.split, name: r.name, step: r.step, value: r.value, ...(goal ? { goal } : {}) };
    map.set(r.job_id, [...(map.get(r.job_id) ?? []), value]);
  }
  return map;
};

export class ExperimentsRepository {
  constructor(private readonly db: Db) {}

  /** a new experiment; Conflict (with the existing id) when the owner has one of that name */
  async create(ownerId: string, name: string, description: string) {
    const taken = () => this.db.experiment.findUnique({ where: { ownerId_name: { ownerId, name } }, select: { id: true } });
    const existing = await taken();
    if (existing) throw new Conflict(`an experiment named "${name}" exists`, { id: existing.id });
    try {
      return await this.db.experiment.create({ data: { ownerId, name, description } });
    } catch (err) {
      // a concurrent request took the name between the look and the insert
      if (isUniqueViolation(err)) throw new Conflict(`an experiment named "${name}" exists`, { id: (await taken())?.id });
      throw err;
    }
  }

  async get(id: string, scope: Scope) {
    const experiment = await this.db.experiment.findFirst({ where: { id, ...scope } });
    if (!experiment) throw new NotFound(`no experiment ${id}`);
    return experiment;
  }

  /**
   * The experiment's jobs summed up, and the first `limit` (oldest first) with their latest and
   * best values; both read in one snapshot, so the list and the sums agree.
   */
  async detail(id: string, scope: Scope, limit = JOBS_LISTED): Promise<ExperimentDetail> {
    const experiment = await this.get(id, scope);
    const where = { experimentId: id, ...scope };
    const [all, jobs] = await this.db.$transaction(
      [
        this.db.job.findMany({
          where,
          select: { kind: true, status: true, progress: true, startedAt: true, finishedAt: true, probeAfter: true },
        }),
        this.db.job.findMany({ where, orderBy: [{ createdAt: 'asc' }, { id: 'asc' }], take: limit }),
      ],
      { isolationLevel: 'RepeatableRead' },
    );
    const ids = jobs.map((j) => j.id);
    const [latest, best] = ids.length ? await Promise.all([this.latestValues(ids), this.bestValues(ids)]) : [new Map(), new Map()];
    return {
      experiment,
      summary: summarize(all.map(({ probeAfter, ...job }) => ({ ...job, pendingProbe: probeAfter !== null }))),
      jobs: jobs.map((job) => ({ job, latest: latest.get(job.id) ?? [], best: best.get(job.id) ?? [] })),
    };
  }

  /** each series' latest value (DISTINCT ON walks the (job, name, split, step) index) */
  private async latestValues(jobIds: string[]) {
    const rows = await this.db.$queryRaw<SeriesRow[]>`
      SELECT DISTINCT ON (job_id, name, split) job_id, split, name, step, value
      FROM metric_points WHERE job_id IN (${Prisma.join(jobIds)})
      ORDER BY job_id, name, split, step DESC`;
    return byJob(rows);
  }

  /** each loss's lowest and each accuracy's highest value, at the first step it was reached */
  private async bestValues(jobIds: string[]) {
    const rows = await this.db.$queryRaw<SeriesRow[]>`
      SELECT DISTINCT ON (job_id, name, split) job_id, split, name, step, value
      FROM metric_points
      WHERE job_id IN (${Prisma.join(jobIds)}) AND (name LIKE '%loss' OR name LIKE '%accuracy')
      ORDER BY job_id, name, split, CASE WHEN name LIKE '%loss' THEN value ELSE -value END, step`;
    return byJob(rows.filter((r) => betterDirection(r.name)));
  }

  async list(page: Page, scope: Scope) {
    const [items, total] = await Promise.all([
      this.db.experiment.findMany({ where: scope, orderBy: { createdAt: 'desc' }, take: page.limit, skip: page.offset }),
      this.db.experiment.count({ where: scope }),
    ]);
    return { items, total };
  }
}
