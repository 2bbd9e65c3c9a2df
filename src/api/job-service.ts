/**
 * What the API does to jobs beyond reading them: submit, cancel and retry. Each keeps Postgres
 * (the record, through the repositories and the lifecycle's transitions) and the queue (BullMQ,
 * through the producer) in step, in an order that a crash or a Redis outage between the two
 * steps leaves repairable: the row is written first, and the reaper enqueues a queued row that
 * has no queue entry.
 */
import type { Static } from 'typebox';
import type { CpcJobCreate, JobCreate } from './schemas.js';
import { applyPoint, type SweepPoint } from './sweeps.js';
import type { ServiceConfig } from '../config.js';
import { checkConfigInput, ConfigError, resolveConfig, stepsPerEpoch, valueText, type CpcConfigInput } from '../cpc/config.js';
import { DEFAULT_PROBE, checkProbeInput, checkProbeSize } from '../cpc/probe.js';
import type { JobsRepository, JobRow, NewJob } from '../store/jobs.js';
import type { ExperimentsRepository } from '../store/experiments.js';
import { BUILTIN_DATASET_ID, type DatasetRow, type DatasetsRepository } from '../store/datasets.js';
import type { Db } from '../store/db.js';
import * as lifecycle from '../store/lifecycle.js';
import { Conflict, Unprocessable } from '../store/errors.js';
import type { Scope } from '../store/scope.js';
import { QueueUnavailable, type JobQueue } from '../queue/producer.js';

/**
 * A probe's config as stored: the client's fields checked, the defaults filled in, seeded by its
 * CPC job's seed unless it says otherwise, and small enough for the CPC job's image size.
 */
function probeConfig(input: Record<string, unknown>, cpcSeed: number, imageSize: number) {
  const { leakyAlpha: _fromTheEncoder, ...probeDefaults } = DEFAULT_PROBE;
  const config = { ...probeDefaults, seed: cpcSeed, ...checkProbeInput(input) };
  checkProbeSize(config, imageSize);
  return config;
}

/** a sweep point's bad value, told with the point (other errors pass as they are) */
function pointError(err: unknown, index: number, point: SweepPoint): unknown {
  if (err instanceof ConfigError) return new ConfigError(`sweep point ${index} (${valueText(point)}): ${err.message}`);
  return err;
}

/** the Idempotency-Keys of sweep points begin so; a client's keys may not */
export const SWEEP_KEY_PREFIX = 'sweep:';

/** How long a retry waits for the job's last attempt to leave BullMQ's `active` state. */
const RETRY_WAIT_MS = 5000;

/** a Redis outage, told with what it means for this request */
const withHint =
  (hint: string, details?: object) =>
  (err: unknown): never => {
    throw err instanceof QueueUnavailable ? err.withHint(hint, details) : err;
  };

export interface Submitter {
  ownerId: string;
  scope: Scope;
  idempotencyKey?: string;
}

export class JobService {
  constructor(
    private readonly db: Db,
    private readonly jobs: JobsRepository,
    private readonly experiments: ExperimentsRepository,
    private readonly datasets: DatasetsRepository,
    private readonly queue: JobQueue,
    private readonly config: Pick<ServiceConfig, 'IDEMPOTENCY_TTL_MS'>,
  ) {}

  /**
   * The built-in data sets never change, and most jobs name one: read once, not at every
   * submission. The lookup itself is shared (a burst of submissions arriving together would
   * otherwise all miss the cache and all query, and exhaust the pool), and forgotten when it
   * fails or finds a user's data set (those are read each time: they can be deleted).
   */
  private readonly builtin = new Map<string, Promise<DatasetRow>>();

  private async dataset(id: string, scope: Scope): Promise<DatasetRow> {
    const known = this.builtin.get(id);
    if (known) {
      const row = await known.catch(() => null);
      if (row?.ownerId === null) return row;
    }
    const lookup = this.datasets.get(id, scope);
    this.builtin.set(id, lookup);
    try {
      const row = await lookup;
      if (row.ownerId !== null && this.builtin.get(id) === lookup) this.builtin.delete(id);
      return row;
    } catch (err) {
      if (this.builtin.get(id) === lookup) this.builtin.delete(id);
      throw err;
    }
  }

  /** The row a submission stands for: its config resolved and checked (ConfigError is the client's). */
  private async newJob(body: Static<typeof JobCreate>, who: Submitter): Promise<NewJob> {
    if (body.experimentId) await this.experiments.get(body.experimentId, who.scope);
    const common = {
      ownerId: who.ownerId,
      experimentId: body.experimentId,
      priority: body.priority ?? 50,
      device: body.device ?? 'any',
      idempotencyKey: who.idempotencyKey,
    };
    if (body.kind === 'cpc') {
      const config = resolveConfig((body.config ?? {}) as CpcConfigInput);
      const { dataDir: _ignored, ...stored } = config;
      const dataset = await this.dataset(body.datasetId ?? BUILTIN_DATASET_ID, who.scope);
      const trainImages = (dataset.counts as { train: number[] }).train.reduce((a, b) => a + b, 0);
      const totalSteps = stepsPerEpoch(config, trainImages) * config.epochs;
      const probeAfter = body.probe ? probeConfig(body.probe, config.seed, config.imageSize) : undefined;
      return { ...common, kind: 'cpc', config: stored, seed: config.seed, datasetId: dataset.id, totalSteps, probeAfter };
    }
    const parent = await this.jobs.get(body.cpcJobId, who.scope);
    if (parent.kind !== 'cpc') throw new Unprocessable(`job ${parent.id} is a ${parent.kind} job, not a CPC job`);
    if (parent.status !== 'succeeded') throw new Conflict(`CPC job ${parent.id} is ${parent.status}; a probe needs a succeeded CPC job`);
    const config = probeConfig(body.config ?? {}, parent.seed, (parent.config as { imageSize: number }).imageSize);
    const dataset = await this.dataset(body.datasetId ?? parent.datasetId, who.scope);
    return { ...common, kind: 'probe', config, seed: config.seed, parentJobId: parent.id, datasetId: dataset.id, totalSteps: 0 };
  }

  /**
   * Submit one CPC job per point of a sweep. Every point is checked first (a bad value names its
   * point, and nothing is submitted); then each is recorded and queued as `submit` does. With an
   * Idempotency-Key, point i uses `sweep:<experiment>:<key>#i`, so a repeated request answers the
   * same jobs (and one cut short by an outage completes the rest).
   */
  async submitSweep(
    base: Static<typeof CpcJobCreate>,
    points: SweepPoint[],
    who: Submitter,
  ): Promise<Array<{ point: SweepPoint; job: JobRow }>> {
    const bodies = points.map((point, i) => {
      try {
        // (the API's fields only: a sweep's values reach the config without the request schema)
        const config = checkConfigInput(applyPoint(base.config ?? {}, point), { engineFields: false });
        return { ...base, config: config as typeof base.config };
      } catch (err) {
        throw pointError(err, i, point);
      }
    });
    const prepared: NewJob[] = [];
    for (const [i, body] of bodies.entries())
      prepared.push(await this.newJob(body, who).catch((err: unknown) => Promise.reject(pointError(err, i, points[i]))));
    const submitted = [];
    for (const [i, job] of prepared.entries()) {
      // (in a namespace a client's own keys cannot use: POST /v1/jobs refuses keys starting with "sweep:")
      const idempotencyKey =
        who.idempotencyKey === undefined ? undefined : `${SWEEP_KEY_PREFIX}${base.experimentId}:${who.idempotencyKey}#${i}`;
      submitted.push({ point: points[i], job: await this.record({ ...job, idempotencyKey }) });
    }
    return submitted;
  }

  /**
   * Record the job and queue it. A replay with the same Idempotency-Key answers the job it made,
   * and queues it again if no lane holds it (its first enqueue did not get through).
   */
  async submit(body: Static<typeof JobCreate>, who: Submitter): Promise<JobRow> {
    return this.record(await this.newJob(body, who));
  }

  private async record(newJob: NewJob): Promise<JobRow> {
    const { job, created } = await this.jobs.create(newJob, this.config.IDEMPOTENCY_TTL_MS);
    if (job.status === 'queued' && (created || !(await this.queue.locate(job).catch(() => null)))) {
      await this.queue
        .enqueue(job)
        .catch(
          withHint(
            'the job is recorded and will be queued when Redis is back (repeat the request with the same Idempotency-Key to make sure)',
            { jobId: job.id },
          ),
        );
    }
    return job;
  }

  /**
   * Ask for the job to end. One still waiting in the queue is taken out and ends here; a running
   * one is stopped by its worker, which sees the request at its next heartbeat.
   */
  async cancel(id: string, scope: Scope): Promise<JobRow> {
    let job = await this.jobs.get(id, scope);
    // (a retry may make a final job queued again between our read and the request: read, ask again)
    for (let tries = 0; !(await lifecycle.requestCancel(this.db, job.id)); tries++) {
      job = await this.jobs.reload(id);
      if (lifecycle.isFinal(job.status) || tries >= 3) throw new Conflict(`job ${job.id} is already ${job.status}`);
    }
    const hint = 'the cancel request is recorded, and a worker (or the reaper) ends the job when it next sees it';
    // (a job a worker takes meanwhile is locked, so it is not removed and that worker sees the request;
    // one a GPU worker claims meanwhile is gone from this lane, and the worker sees the request)
    const { removed, entry } = await this.queue.removeWaiting(job).catch(withHint(hint));
    // a queued row with no queue entry at all (its enqueue never reached Redis) ends here too
    if (removed || (!entry && job.status === 'queued')) {
      await lifecycle.cancel(this.db, job.id);
      // a retry that enqueued between our look and the transition left an entry: it goes too
      // (one a worker took meanwhile is locked; that worker's start is refused and it ends)
      await this.queue.removeFromLanes(job).catch(() => undefined);
    }
    return this.jobs.reload(job.id);
  }

  /** Queue a failed or cancelled job again; a training job resumes from its last checkpoint. */
  async retry(id: string, scope: Scope): Promise<JobRow> {
    const job = await this.jobs.get(id, scope);
    if (job.status !== 'failed' && job.status !== 'cancelled')
      throw new Conflict(`job ${job.id} is ${job.status}; only failed or cancelled jobs can be retried`);
    // An attempt records its outcome in Postgres before BullMQ moves the job out of `active`; while
    // it is still active BullMQ can neither remove it nor take it again (the add would be a no-op and
    // the job would stay queued for ever), so wait for the worker to let go first.
    if (!(await this.queue.leavesActive(job, RETRY_WAIT_MS).catch(withHint('nothing was changed; try again shortly'))))
      throw new Conflict(`job ${job.id}'s last attempt is still ending on its worker; try again in a few seconds`);
    if (!(await lifecycle.retry(this.db, job.id, job.status))) throw new Conflict(`job ${job.id} changed while retrying; try again`);
    const requeued = await this.jobs.reload(job.id);
    const hint = 'the job is queued again in Postgres; the reaper enqueues it when Redis is back';
    // the last attempt's entries (in each lane an `any` job may have run in) make way for the new one;
    // one BullMQ still holds (a stale twin ending) cannot go yet: then the add below is ignored, and the
    // reaper enqueues the job once that entry has finished
    await this.queue.removeFromLanes(job).catch((err: unknown) => {
      if (err instanceof QueueUnavailable) throw err.withHint(hint);
    });
    await this.queue.enqueue(job).catch(withHint(hint));
    // a cancel between the transition and this enqueue found no entry to remove and ended the job:
    // take the entry out again (one a worker took meanwhile is refused by the lease and ends)
    if ((await this.jobs.reload(job.id)).status !== 'queued') await this.queue.removeFromLanes(job).catch(() => undefined);
    return requeued;
  }
}
