/**
 * One job: status and progress, live curves (history from /metrics, then the
 * event stream), the sample sequences, probe scores beside their baselines,
 * artifacts and the log. Actions: cancel, retry.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { follow, get, send } from '../api';
import { Chart, type Series } from '../chart';
import { AuthImage, ErrorLine, Link, Progress, Status } from '../components';
import { bytes, duration, number, percent } from '../format';
import type { Job, Metric, ProbeScores } from '../types';
import { LogView } from './log';

const FINAL = ['succeeded', 'failed', 'cancelled'];

/** the job, and every metric row it has, kept current over its event stream */
function useLiveJob(id: string): { job: Job | null; metrics: Metric[]; live: { imagesPerSec?: number } | null; error: unknown } {
  const [job, setJob] = useState<Job | null>(null);
  const [metrics, setMetrics] = useState<Metric[]>([]);
  const [live, setLive] = useState<{ imagesPerSec?: number } | null>(null);
  const [error, setError] = useState<unknown>(null);

  useEffect(() => {
    const stop = new AbortController();
    const base = `/v1/jobs/${encodeURIComponent(id)}`;
    const seen = new Set<string>();
    const add = (rows: Metric[]) => {
      const fresh = rows.filter((m) => {
        const key = `${m.split}/${m.name}@${m.step}`;
        if (seen.has(key)) return false;
        seen.add(key);
        return true;
      });
      if (fresh.length) setMetrics((all) => [...all, ...fresh]);
    };
    async function run() {
      setJob(await get<Job>(base));
      for (let cursor: string | null = ''; cursor !== null && !stop.signal.aborted;) {
        const page: { items: Metric[]; nextCursor: string | null } = await get(
          `${base}/metrics?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
        );
        add(page.items);
        cursor = page.nextCursor;
      }
      await follow(
        `${base}/events`,
        (event, data) => {
          if (event === 'status') setJob((j) => ({ ...(j ?? {}), ...(data as Job) }));
          if (event === 'metrics') add(data as Metric[]);
          if (event === 'progress') {
            const p = data as { step: number; totalSteps: number; imagesPerSec?: number };
            setLive(p);
            setJob((j) => (j ? { ...j, step: p.step, totalSteps: p.totalSteps, progress: p.step / p.totalSteps } : j));
          }
        },
        stop.signal,
      );
      // the stream ended with the job: the final row (result, artifacts) once more
      if (!stop.signal.aborted) setJob(await get<Job>(base));
    }
    run().catch((err: unknown) => !stop.signal.aborted && setError(err));
    return () => stop.abort();
  }, [id]);
  return { job, metrics, live, error };
}

function series(metrics: Metric[], split: string, name: string, label: string, color: string, dash?: number[]): Series {
  return {
    label,
    color,
    dash,
    points: metrics.filter((m) => m.split === split && m.name === name).map((m) => [m.step, m.value] as [number, number]),
  };
}

export function JobPage({ id }: { id: string }) {
  const { job, metrics, live, error } = useLiveJob(id);
  const [actionError, setActionError] = useState<unknown>(null);
  const charts = useMemo(() => {
    const s = (split: string, name: string, label: string, color: string, dash?: number[]) =>
      series(metrics, split, name, label, color, dash);
    return {
      loss: [s('train', 'loss', 'train', '#1f77b4'), s('valid', 'loss', 'validation', '#ff7f0e')],
      accuracy: [
        s('train', 'accuracy', 'train', '#1f77b4'),
        s('valid', 'accuracy', 'validation', '#ff7f0e'),
        s('train', 'chance', 'chance', '#888888', [6, 4]),
      ],
      lr: [s('train', 'learning_rate', 'learning rate', '#2ca02c')],
    };
  }, [metrics]);

  if (error) return <ErrorLine error={error} />;
  if (!job) return <p class="muted">loading job {id}…</p>;

  const act = (action: 'cancel' | 'retry') =>
    send('POST', `/v1/jobs/${encodeURIComponent(id)}/${action}`).then(
      () => setActionError(null),
      (e: unknown) => setActionError(e),
    );
  const chance = metrics.find((m) => m.name === 'chance')?.value;
  const test = (name: string) => metrics.find((m) => m.split === 'test' && m.name === name)?.value;

  return (
    <section>
      <h2>
        Job {job.id} <Status status={job.status} />
      </h2>
      <div class="facts">
        <span>kind {job.kind}</span>
        <span>
          data set <Link to="/datasets">{job.datasetId}</Link>
        </span>
        {job.experimentId && (
          <span>
            experiment <Link to={`/experiments/${job.experimentId}`}>{job.experimentId.slice(0, 8)}</Link>
          </span>
        )}
        {job.parentJobId && (
          <span>
            probes <Link to={`/jobs/${job.parentJobId}`}>{job.parentJobId}</Link>
          </span>
        )}
        <span>seed {job.seed}</span>
        <span>device {job.device}</span>
        <span>backend {job.backend ?? '–'}</span>
        <span>worker {job.workerHost ?? '–'}</span>
        <span>attempts {job.attempts}</span>
        <span>time {duration(job.startedAt, job.finishedAt)}</span>
      </div>
      <p class="progress-line">
        <Progress value={job.progress} /> step {job.step}
        {job.totalSteps ? ` of ${job.totalSteps}` : ''}
        {live?.imagesPerSec ? ` · ${number(live.imagesPerSec, 3)} images/s` : ''}
      </p>
      {job.error && <p class="error">{job.error}</p>}
      <div class="actions">
        {!FINAL.includes(job.status) && <button onClick={() => void act('cancel')}>Cancel</button>}
        {(job.status === 'failed' || job.status === 'cancelled') && <button onClick={() => void act('retry')}>Retry</button>}
        <ErrorLine error={actionError} />
      </div>

      {job.kind === 'cpc' && (
        <>
          <h3>Curves</h3>
          <p class="muted">
            contrastive accuracy against its chance level {chance !== undefined ? `(${percent(chance)})` : ''}
            {test('accuracy') !== undefined ? ` · test accuracy ${percent(test('accuracy'))}, test loss ${number(test('loss'))}` : ''}
          </p>
          <div class="charts">
            <Chart title="loss" yLabel="loss" series={charts.loss} />
            <Chart title="contrastive accuracy" yLabel="accuracy" series={charts.accuracy} />
            <Chart title="learning rate" yLabel="lr" series={charts.lr} log />
          </div>
          <h3>Sample sequences</h3>
          <p class="muted">the training data this job saw: positive sequences (the task's order) and negatives, one per row</p>
          {job.step > 0 ? (
            <AuthImage path={`/v1/jobs/${encodeURIComponent(id)}/samples.png`} alt="sample sequences" class="samples" />
          ) : (
            <p class="muted">drawn when the job starts</p>
          )}
        </>
      )}
      {job.kind === 'probe' && job.result && <ProbeResult result={job.result} />}

      <h3>Config</h3>
      <pre class="config">{JSON.stringify(job.config, null, 2)}</pre>
      {job.artifacts && job.artifacts.length > 0 && (
        <>
          <h3>Artifacts</h3>
          <ul class="artifacts">
            {job.artifacts.map((a) => (
              <li>
                {a.kind}/{a.name} <span class="muted">{bytes(a.bytes)}</span>
              </li>
            ))}
          </ul>
        </>
      )}
      <h3>Log</h3>
      <LogView jobId={id} final={FINAL.includes(job.status)} />
    </section>
  );
}

function ProbeResult({ result }: { result: Record<string, unknown> }) {
  const rows: Array<[string, ProbeScores | undefined]> = [
    ['CPC encoder (frozen)', result.cpc as ProbeScores | undefined],
    ['random-init encoder', result.randomEncoder as ProbeScores | undefined],
    ['raw pixels', result.rawPixels as ProbeScores | undefined],
  ];
  const classes = (result.classNames as string[] | undefined)?.length ?? 10;
  return (
    <>
      <h3>Probe accuracy</h3>
      <p class="muted">test accuracy of a linear and an MLP head; chance is {percent(1 / classes)}</p>
      <table class="probe">
        <thead>
          <tr>
            <th>features</th>
            <th>linear</th>
            <th>MLP</th>
          </tr>
        </thead>
        <tbody>
          {rows
            .filter(([, s]) => s)
            .map(([label, s]) => (
              <tr>
                <td>{label}</td>
                <td>{percent(s!.linear)}</td>
                <td>{percent(s!.mlp)}</td>
              </tr>
            ))}
        </tbody>
      </table>
    </>
  );
}
