/**
 * A worker's Prometheus metrics (prom-client), served at
 * http://<host>:WORKER_METRICS_PORT/metrics: its training speed (images per
 * second, seconds per step, as its jobs report progress), its attempts by
 * outcome and how long they took, the crashes of its sandboxed children, the
 * stalled jobs it found, what it runs now, and its process. The parent
 * process sees all of it through BullMQ's worker events; the children, which
 * train, export nothing themselves.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { Job, Worker } from 'bullmq';

export interface WorkerMetricsOptions {
  /** labels on every series: the backend and the device it serves */
  labels: { backend: string; device: string };
}

interface Progress {
  step?: number;
  imagesPerSec?: number;
}

/** the outcome of an attempt that completed, from what its processor returned (worker/attempt.ts) */
export function completedOutcome(result: unknown): string {
  if (result && typeof result === 'object') {
    if ('cancelled' in result) return 'cancelled';
    if ('leaseLost' in result) return 'lease_lost';
    if ('skipped' in result) return 'skipped';
  }
  return 'succeeded';
}

/** a sandboxed child that died under its job (killed, out of memory, a native crash) */
export const isChildCrash = (err: Error) => /^Unexpected exit code: /.test(err.message);

export class WorkerMetrics {
  readonly registry = new Registry();
  private readonly stepSeconds: Histogram;
  private readonly attempts: Counter;
  private readonly attemptSeconds: Histogram;
  private readonly crashes: Counter;
  private readonly stalled: Counter;
  /** per running job: its last progress (step, when), and its images per second */
  private readonly jobs = new Map<string, { kind: string; step: number; at: number; imagesPerSec: number; startedAt: number }>();

  /** the job kinds watched (their series read 0 when nothing runs) */
  private readonly kinds = new Set<string>();

  constructor(options: WorkerMetricsOptions) {
    this.registry.setDefaultLabels(options.labels);
    collectDefaultMetrics({ register: this.registry, prefix: 'cpc_worker_' });
    const registers = [this.registry];
    const jobs = this.jobs;
    const kinds = this.kinds;
    new Gauge({
      name: 'cpc_worker_images_per_second',
      help: 'training throughput of the jobs running on this worker now, as they last reported it (summed per kind)',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const kind of kinds) this.set({ kind }, 0);
        for (const j of jobs.values()) this.inc({ kind: j.kind }, j.imagesPerSec);
      },
    });
    new Gauge({
      name: 'cpc_worker_jobs_running',
      help: 'jobs running on this worker now',
      labelNames: ['kind'],
      registers,
      collect() {
        this.reset();
        for (const kind of kinds) this.set({ kind }, 0);
        for (const j of jobs.values()) this.inc({ kind: j.kind });
      },
    });
    this.stepSeconds = new Histogram({
      name: 'cpc_worker_step_seconds',
      help: 'seconds per training step, between two progress reports of a job (averaged over the steps between them)',
      labelNames: ['kind'],
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.attempts = new Counter({
      name: 'cpc_worker_attempts_total',
      help: 'attempts this worker ended, by outcome (succeeded, failed, crashed, cancelled, lease_lost, skipped)',
      labelNames: ['kind', 'outcome'],
      registers,
    });
    this.attemptSeconds = new Histogram({
      name: 'cpc_worker_attempt_seconds',
      help: 'how long attempts ran on this worker, by outcome',
      labelNames: ['kind', 'outcome'],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600],
      registers,
    });
    this.crashes = new Counter({
      name: 'cpc_worker_crashes_total',
      help: 'sandboxed children that died under a job (killed, out of memory, a native crash)',
      labelNames: ['kind'],
      registers,
    });
    this.stalled = new Counter({
      name: 'cpc_worker_stalled_total',
      help: 'jobs this worker found stalled (their worker vanished): they are retried',
      labelNames: ['kind'],
      registers,
    });
  }

  /** follow one BullMQ Worker's events */
  watch(kind: string, worker: Worker): void {
    this.kinds.add(kind);
    worker.on('active', (job: Job) => {
      const now = Date.now();
      this.jobs.set(job.id!, { kind, step: -1, at: now, imagesPerSec: 0, startedAt: now });
    });
    worker.on('progress', (job: Job, progress: unknown) => this.progress(job.id!, kind, progress as Progress));
    worker.on('completed', (job: Job, result: unknown) => this.ended(job.id!, kind, completedOutcome(result)));
    worker.on('failed', (job: Job | undefined, err: Error) => {
      if (!job) return;
      const crashed = isChildCrash(err);
      if (crashed) this.crashes.inc({ kind });
      this.ended(job.id!, kind, crashed ? 'crashed' : 'failed');
    });
    worker.on('stalled', () => this.stalled.inc({ kind }));
  }

  private progress(jobId: string, kind: string, p: Progress): void {
    const now = Date.now();
    const job = this.jobs.get(jobId) ?? { kind, step: -1, at: now, imagesPerSec: 0, startedAt: now };
    if (typeof p.imagesPerSec === 'number' && Number.isFinite(p.imagesPerSec)) job.imagesPerSec = p.imagesPerSec;
    if (typeof p.step === 'number') {
      // (the first report of an attempt only sets the mark: the steps before it include the start-up)
      if (job.step >= 0 && p.step > job.step) this.stepSeconds.observe({ kind }, (now - job.at) / 1000 / (p.step - job.step));
      job.step = p.step;
      job.at = now;
    }
    this.jobs.set(jobId, job);
  }

  private ended(jobId: string, kind: string, outcome: string): void {
    const job = this.jobs.get(jobId);
    this.jobs.delete(jobId);
    this.attempts.inc({ kind, outcome });
    if (job) this.attemptSeconds.observe({ kind, outcome }, (Date.now() - job.startedAt) / 1000);
  }
}

/** serve the registry at /metrics (resolves with the server once it listens; rejects when the port is taken) */
export function serveMetrics(metrics: WorkerMetrics, host: string, port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (!['GET', 'HEAD'].includes(req.method ?? '') || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: the worker serves GET /metrics only\n');
      return;
    }
    metrics.registry
      .metrics()
      .then((text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text))
      .catch((err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`));
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve(server);
    });
  });
}
