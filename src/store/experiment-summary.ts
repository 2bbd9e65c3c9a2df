/**
 * What an experiment's jobs add up to: one status, counts, overall progress and times, read
 * from the jobs' rows alone (pure: the repository reads the rows).
 *
 * | status        | when                                                                 |
 * |---------------|----------------------------------------------------------------------|
 * | empty         | no jobs                                                              |
 * | queued        | no job has started: all are queued                                  |
 * | running       | some job is running, or some are queued while others have ended, or  |
 * |               | a succeeded CPC job's probe is still to be submitted                 |
 * | succeeded     | every job succeeded                                                  |
 * | partly_failed | every job ended, some succeeded and some failed or were cancelled    |
 * | failed        | every job ended, none succeeded, some failed                         |
 * | cancelled     | every job was cancelled                                              |
 */
import type { JobKind, JobStatus } from '../generated/prisma/client.js';
import { isFinal } from './lifecycle.js';

export const EXPERIMENT_STATUSES = ['empty', 'queued', 'running', 'succeeded', 'partly_failed', 'failed', 'cancelled'] as const;
export type ExperimentStatus = (typeof EXPERIMENT_STATUSES)[number];

/** the columns of a job the summary reads */
export interface JobProgress {
  kind: JobKind;
  status: JobStatus;
  progress: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  /** a CPC job's probe, asked for and not yet submitted */
  pendingProbe: boolean;
}

export interface ExperimentSummary {
  status: ExperimentStatus;
  jobCount: number;
  byStatus: Record<JobStatus, number>;
  byKind: Record<JobKind, number>;
  /** the share of the work done: an ended job counts whole, a queued or running one by its progress */
  progress: number;
  /** when its first job started, and (once every job has ended) when its last one ended */
  startedAt: Date | null;
  finishedAt: Date | null;
}

export function experimentStatus(byStatus: Record<JobStatus, number>): ExperimentStatus {
  const total = Object.values(byStatus).reduce((a, b) => a + b, 0);
  if (total === 0) return 'empty';
  if (byStatus.queued === total) return 'queued';
  if (byStatus.running > 0 || byStatus.queued > 0) return 'running';
  if (byStatus.succeeded === total) return 'succeeded';
  if (byStatus.cancelled === total) return 'cancelled';
  if (byStatus.succeeded > 0) return 'partly_failed';
  return 'failed';
}

const earliest = (dates: Array<Date | null>) => dates.reduce<Date | null>((a, d) => (d && (!a || d < a) ? d : a), null);
const latest = (dates: Array<Date | null>) => dates.reduce<Date | null>((a, d) => (d && (!a || d > a) ? d : a), null);

export function summarize(jobs: readonly JobProgress[]): ExperimentSummary {
  const byStatus: Record<JobStatus, number> = { queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  const byKind: Record<JobKind, number> = { cpc: 0, probe: 0 };
  for (const job of jobs) {
    byStatus[job.status]++;
    byKind[job.kind]++;
  }
  // a probe still to come counts as work not done (in the status, and as a job at 0 in the progress;
  // every CPC job that asked for one counts it, so the progress does not step back when it appears)
  const waiting = jobs.filter((job) => job.pendingProbe && job.status === 'succeeded').length;
  const promised = jobs.filter((job) => job.pendingProbe && job.status !== 'failed' && job.status !== 'cancelled').length;
  const done = jobs.reduce((sum, job) => sum + (isFinal(job.status) ? 1 : Math.min(1, Math.max(0, job.progress))), 0);
  const status = waiting > 0 && experimentStatus(byStatus) !== 'running' ? 'running' : experimentStatus(byStatus);
  const ended = jobs.length > 0 && waiting === 0 && jobs.every((job) => isFinal(job.status));
  const units = jobs.length + promised;
  return {
    status,
    jobCount: jobs.length,
    byStatus,
    byKind,
    progress: units ? done / units : 0,
    startedAt: earliest(jobs.map((job) => job.startedAt)),
    finishedAt: ended ? latest(jobs.map((job) => job.finishedAt)) : null,
  };
}

/** Whether a larger value of the metric is better (accuracies), smaller (losses), or neither. */
export function betterDirection(name: string): 'max' | 'min' | null {
  if (name === 'loss' || name.endsWith('_loss')) return 'min';
  if (name === 'accuracy' || name.endsWith('_accuracy')) return 'max';
  return null;
}
