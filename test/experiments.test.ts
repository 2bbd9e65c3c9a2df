/** The pure parts of experiments: aggregate status and summary, sweep points, the comparison. */
import { describe, it, expect } from 'vitest';
import { experimentStatus, summarize, betterDirection, EXPERIMENT_STATUSES, type JobProgress } from '../src/store/experiment-summary.js';
import { applyPoint, sweepPoints } from '../src/api/sweeps.js';
import { compare } from '../src/api/compare.js';
import { ExperimentStatus } from '../src/api/schemas.js';
import type { JobWithScores } from '../src/store/experiments.js';
import type { JobRow } from '../src/store/jobs.js';

const counts = (c: Partial<Record<'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled', number>>) => ({
  queued: 0,
  running: 0,
  succeeded: 0,
  failed: 0,
  cancelled: 0,
  ...c,
});

describe('experiment status', () => {
  it('follows the table in experiment-summary.ts', () => {
    expect(experimentStatus(counts({}))).toBe('empty');
    expect(experimentStatus(counts({ queued: 3 }))).toBe('queued');
    expect(experimentStatus(counts({ queued: 2, running: 1 }))).toBe('running');
    expect(experimentStatus(counts({ queued: 1, succeeded: 1 }))).toBe('running');
    expect(experimentStatus(counts({ queued: 1, failed: 1 }))).toBe('running');
    expect(experimentStatus(counts({ succeeded: 4 }))).toBe('succeeded');
    expect(experimentStatus(counts({ succeeded: 3, failed: 1 }))).toBe('partly_failed');
    expect(experimentStatus(counts({ succeeded: 3, cancelled: 1 }))).toBe('partly_failed');
    expect(experimentStatus(counts({ failed: 2, cancelled: 1 }))).toBe('failed');
    expect(experimentStatus(counts({ cancelled: 2 }))).toBe('cancelled');
  });

  it('the API schema lists the same statuses', () => {
    expect(ExperimentStatus.anyOf.map((s: { const: string }) => s.const).sort()).toEqual([...EXPERIMENT_STATUSES].sort());
  });

  it('sums progress (an ended job counts whole) and times (finished only once all have ended)', () => {
    const t = (s: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, s));
    const jobs: JobProgress[] = [
      { kind: 'cpc', status: 'succeeded', progress: 1, startedAt: t(10), finishedAt: t(50), pendingProbe: false },
      { kind: 'cpc', status: 'failed', progress: 0.3, startedAt: t(5), finishedAt: t(20), pendingProbe: false },
      { kind: 'probe', status: 'running', progress: 0.5, startedAt: t(60), finishedAt: null, pendingProbe: false },
      { kind: 'cpc', status: 'queued', progress: 0, startedAt: null, finishedAt: null, pendingProbe: false },
    ];
    const s = summarize(jobs);
    expect(s).toMatchObject({
      status: 'running',
      jobCount: 4,
      byKind: { cpc: 3, probe: 1 },
      progress: 2.5 / 4,
      startedAt: t(5),
      finishedAt: null,
    });
    expect(s.byStatus).toEqual(counts({ succeeded: 1, failed: 1, running: 1, queued: 1 }));
    expect(summarize(jobs.slice(0, 2))).toMatchObject({ status: 'partly_failed', progress: 1, finishedAt: t(50) });
  });

  it('a succeeded CPC job whose probe is still to come keeps the experiment running, and the progress never steps back', () => {
    const cpc = (status: 'queued' | 'running' | 'succeeded', progress: number, pendingProbe: boolean): JobProgress => ({
      kind: 'cpc',
      status,
      progress,
      startedAt: status === 'queued' ? null : new Date(1000),
      finishedAt: status === 'succeeded' ? new Date(2000) : null,
      pendingProbe,
    });
    const probe = (status: 'queued' | 'succeeded'): JobProgress => ({
      ...cpc('succeeded', 1, false),
      kind: 'probe',
      status,
      progress: status === 'succeeded' ? 1 : 0,
      finishedAt: status === 'succeeded' ? new Date(3000) : null,
    });
    const stages = [
      [cpc('queued', 0, true)],
      [cpc('running', 0.5, true)],
      [cpc('succeeded', 1, true)], // its worker stopped before it submitted the probe
      [cpc('succeeded', 1, false), probe('queued')],
      [cpc('succeeded', 1, false), probe('succeeded')],
    ].map(summarize);
    expect(stages.map((s) => s.status)).toEqual(['queued', 'running', 'running', 'running', 'succeeded']);
    expect(stages.map((s) => s.progress)).toEqual([0, 0.25, 0.5, 0.5, 1]);
    expect(stages.map((s) => s.finishedAt)).toEqual([null, null, null, null, new Date(3000)]);
    // a cancelled job's probe never comes
    expect(summarize([{ ...cpc('running', 0.5, true), status: 'cancelled' }])).toMatchObject({ status: 'cancelled', progress: 1 });
  });

  it('knows which end of a metric is best', () => {
    expect(['loss', 'cpc_loss', 'accuracy', 'cpc_mlp_accuracy', 'chance', 'learning_rate'].map(betterDirection)).toEqual([
      'min',
      'min',
      'max',
      'max',
      null,
      null,
    ]);
  });
});

describe('sweep points', () => {
  it('a grid is every combination, in the order given, within its budget', () => {
    expect(sweepPoints({ grid: { epochs: [1, 2], 'model.codeSize': [8, 16] }, maxJobs: 4 })).toEqual([
      { epochs: 1, 'model.codeSize': 8 },
      { epochs: 1, 'model.codeSize': 16 },
      { epochs: 2, 'model.codeSize': 8 },
      { epochs: 2, 'model.codeSize': 16 },
    ]);
    expect(() => sweepPoints({ grid: { epochs: [1, 2], seed: [1, 2] }, maxJobs: 3 })).toThrow(/4 points, over maxJobs 3/);
  });

  it('random search: seeded (the same seed, the same points, whatever the field order), in range, on a log scale if asked', () => {
    const space = {
      learningRate: { min: 1e-4, max: 1e-1, scale: 'log' as const },
      batchSize: { min: 8, max: 64, integer: true },
      task: { values: ['same', 'sorted'] },
    };
    const points = sweepPoints({ random: { trials: 50, seed: 7, space }, maxJobs: 50 });
    const reordered = { task: space.task, batchSize: space.batchSize, learningRate: space.learningRate };
    expect(sweepPoints({ random: { trials: 50, seed: 7, space: reordered }, maxJobs: 50 })).toEqual(points);
    expect(sweepPoints({ random: { trials: 50, seed: 8, space }, maxJobs: 50 })).not.toEqual(points);
    for (const p of points) {
      expect(p.learningRate).toBeGreaterThanOrEqual(1e-4);
      expect(p.learningRate).toBeLessThanOrEqual(1e-1);
      expect(Number.isInteger(p.batchSize) && (p.batchSize as number) >= 8 && (p.batchSize as number) <= 64).toBe(true);
      expect(['same', 'sorted']).toContain(p.task);
    }
    // log-uniform: about as many points below 1e-2.5 as above
    const below = points.filter((p) => (p.learningRate as number) < 10 ** -2.5).length;
    expect(below).toBeGreaterThan(12);
    expect(below).toBeLessThan(38);
    expect(new Set(points.map((p) => p.task)).size).toBe(2);
  });

  it('takes only config fields (with a suggestion), before any work; integer ranges draw each integer alike', () => {
    expect(() => sweepPoints({ grid: { learningrate: [1] }, maxJobs: 5 })).toThrow(
      /"learningrate" is not a config field; did you mean "learningRate"/,
    );
    for (const field of ['model', 'dataDir', 'workers', 'constructor', '1abc', 'model.nope', 'model.codeSize.x'])
      expect(() => sweepPoints({ grid: { [field]: [1] }, maxJobs: 5 }), field).toThrow(/is not a config field/);
    // thousands of fields: refused at the first unknown one, at once
    const many = Object.fromEntries(Array.from({ length: 100_000 }, (_, i) => [`f${i}`, [1]]));
    const t0 = performance.now();
    expect(() => sweepPoints({ grid: many, maxJobs: 5 })).toThrow(/"f0" is not a config field/);
    expect(performance.now() - t0).toBeLessThan(1000);
    // a huge field name is not compared with the known ones letter by letter (that took seconds per megabyte)
    const t1 = performance.now();
    expect(() => sweepPoints({ grid: { ['x'.repeat(4_000_000)]: [1] }, maxJobs: 5 })).toThrow(/is not a config field \(fields: /);
    expect(performance.now() - t1).toBeLessThan(1000);
    const random = (range: object) => sweepPoints({ random: { trials: 300, seed: 1, space: { batchSize: range as never } }, maxJobs: 300 });
    const counts = [1, 2, 3].map((v) => random({ min: 1, max: 3, integer: true }).filter((p) => p.batchSize === v).length);
    for (const c of counts) expect(c).toBeGreaterThan(70); // (rounding gave the ends half as many)
    expect(() => random({ min: 1.2, max: 1.8, integer: true })).toThrow(/no integer in \[1.2, 1.8\]/);
    expect(() => random({ min: -1.7e308, max: 1.7e308 })).toThrow(/too wide/);
  });

  it('applies a point over the base config, model fields into model', () => {
    expect(applyPoint({ epochs: 2, model: { filters: 8 } }, { learningRate: 0.01, 'model.codeSize': 16 })).toEqual({
      epochs: 2,
      learningRate: 0.01,
      model: { filters: 8, codeSize: 16 },
    });
    expect(applyPoint({ epochs: 2 }, { epochs: 3 })).toEqual({ epochs: 3 });
    expect(() => applyPoint({}, { 'optimizer.beta': 1 })).toThrow(/only config fields and model.<field>/);
  });
});

describe('comparison', () => {
  let n = 0;
  const job = (fields: Partial<JobRow>): JobRow =>
    ({
      id: `job_${++n}`,
      kind: 'cpc',
      status: 'succeeded',
      seed: 0,
      datasetId: 'mnist',
      parentJobId: null,
      config: { learningRate: 0.001, model: { codeSize: 8 } },
      ...fields,
    }) as JobRow;
  const scored = (j: JobRow, values: Record<string, number>): JobWithScores => ({
    job: j,
    latest: Object.entries(values).map(([k, value]) => {
      const [split, name] = k.split('/');
      return { split, name, step: 10, value };
    }),
    best: [],
  });

  it('joins probes into their CPC job, lists what differs, ranks by the metric, best first', () => {
    const a = job({ config: { learningRate: 0.001, model: { codeSize: 8 } } });
    const b = job({ config: { learningRate: 0.01, model: { codeSize: 8 } } });
    const c = job({ config: { learningRate: 0.1, model: { codeSize: 8 } }, status: 'failed' });
    const pa = job({ kind: 'probe', parentJobId: a.id, config: { trainImages: 100 } });
    const pb = job({ kind: 'probe', parentJobId: b.id, config: { trainImages: 100 } });
    const jobs = [
      scored(a, { 'test/accuracy': 0.9, 'train/loss': 0.3, 'train/images_per_sec': 500 }),
      scored(b, { 'test/accuracy': 0.8, 'train/loss': 0.2 }),
      scored(c, { 'valid/accuracy': 0.5 }),
      scored(pa, { 'test/cpc_mlp_accuracy': 0.7 }),
      scored(pb, { 'test/cpc_mlp_accuracy': 0.75 }),
    ];
    const result = compare(jobs);
    expect(result).toMatchObject({ metric: 'probe/cpc_mlp_accuracy', goal: 'max', differing: ['learningRate'] });
    expect(result.rows.map((r) => [r.jobId, r.rank])).toEqual([
      [b.id, 1],
      [a.id, 2],
      [c.id, null],
    ]);
    expect(result.rows[1].values).toEqual({ 'test/accuracy': 0.9, 'train/loss': 0.3, 'probe/cpc_mlp_accuracy': 0.7 });
    expect(result.rows[0].probeJobIds).toEqual([pb.id]);
    expect(result.best).toEqual({ jobId: b.id, value: 0.75, config: { learningRate: 0.01 } });
    expect(compare(jobs, 'train/loss')).toMatchObject({ goal: 'min', best: { jobId: b.id, value: 0.2 } });
    expect(compare(jobs, 'nothing/like_this')).toMatchObject({ best: null });
    // names of every object's own properties are not metrics
    expect(compare(jobs, 'constructor')).toMatchObject({ best: null });
    expect(compare(jobs, 'toString').rows.every((r) => r.rank === null)).toBe(true);
    expect(compare([])).toEqual({ metric: null, goal: null, differing: [], rows: [], best: null });
  });
});
