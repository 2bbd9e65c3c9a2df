/**
 * Experiments: the list, and one experiment's status, jobs and comparison (best first), followed
 * live over its event stream (a new snapshot whenever a job is added, steps or ends).
 */
import { useEffect, useState } from 'preact/hooks';
import { follow } from '../api';
import { ErrorLine, Link, Progress, Status, useResource } from '../components';
import { ago, duration, number } from '../format';
import type { Experiment, ExperimentDetail, Page } from '../types';

export function ExperimentsPage() {
  const { data, error } = useResource<Page<Experiment>>('/v1/experiments?limit=200', 5000);
  return (
    <section>
      <h2>Experiments</h2>
      <ErrorLine error={error} />
      {data && data.items.length === 0 && <p class="muted">No experiments yet (POST /v1/experiments, or cpc experiments create).</p>}
      <table>
        <thead>
          <tr>
            <th>name</th>
            <th>description</th>
            <th>created</th>
          </tr>
        </thead>
        <tbody>
          {data?.items.map((e) => (
            <tr>
              <td>
                <Link to={`/experiments/${e.id}`}>{e.name}</Link>
              </td>
              <td>{e.description ?? ''}</td>
              <td>{ago(e.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

interface Comparison {
  differing: string[];
  metric: string | null;
  rows: Array<{
    jobId: string;
    status: string;
    datasetId: string;
    config: Record<string, unknown>;
    values: Record<string, number>;
    rank: number | null;
  }>;
}

type Detail = ExperimentDetail & { startedAt: string | null; finishedAt: string | null };

/** the experiment as its event stream last sent it, and how many snapshots came */
function useExperimentStream(id: string): { data: Detail | null; error: unknown; snapshots: number } {
  const [state, setState] = useState<{ data: Detail | null; error: unknown; snapshots: number }>({ data: null, error: null, snapshots: 0 });
  useEffect(() => {
    const controller = new AbortController();
    follow(
      `/v1/experiments/${encodeURIComponent(id)}/events`,
      (event, data) => {
        if (event === 'experiment') setState((s) => ({ data: data as Detail, error: null, snapshots: s.snapshots + 1 }));
        if (event === 'end') setState((s) => ({ ...s, error: new Error('the experiment was deleted') }));
      },
      controller.signal,
    ).catch((err: unknown) => {
      if (!controller.signal.aborted) setState((s) => ({ ...s, error: err }));
    });
    return () => controller.abort();
  }, [id]);
  return state;
}

export function ExperimentPage({ id }: { id: string }) {
  const { data: e, error, snapshots } = useExperimentStream(id);
  // (compared again whenever the experiment changed)
  const compare = useResource<Comparison>(`/v1/experiments/${encodeURIComponent(id)}/compare`, 0, snapshots);
  if (error) return <ErrorLine error={error} />;
  if (!e) return <p class="muted">loading…</p>;
  const c = compare.data;
  return (
    <section>
      <h2>
        {e.name} <Status status={e.status} />
      </h2>
      <p>{e.description}</p>
      <p class="progress-line">
        <Progress value={e.progress} /> {e.jobCount} jobs ·{' '}
        {Object.entries(e.byStatus)
          .filter(([, n]) => n)
          .map(([s, n]) => `${n} ${s}`)
          .join(', ')}{' '}
        · {duration(e.startedAt, e.finishedAt)}
      </p>
      {c && c.rows.length > 0 && (
        <>
          <h3>Comparison {c.metric ? `by ${c.metric}` : ''}</h3>
          <table class="compare">
            <thead>
              <tr>
                <th>job</th>
                <th>status</th>
                {c.differing.map((f) => (
                  <th>{f}</th>
                ))}
                <th>{c.metric ?? 'score'}</th>
              </tr>
            </thead>
            <tbody>
              {c.rows.map((r) => (
                <tr class={r.rank === 1 ? 'best' : ''}>
                  <td>
                    <Link to={`/jobs/${r.jobId}`}>{r.jobId}</Link>
                  </td>
                  <td>
                    <Status status={r.status} />
                  </td>
                  {c.differing.map((f) => (
                    <td>
                      {JSON.stringify(
                        f === 'datasetId'
                          ? r.datasetId
                          : f.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], r.config),
                      )}
                    </td>
                  ))}
                  <td>{c.metric ? number(r.values[c.metric]) : '–'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h3>Jobs</h3>
      <table>
        <thead>
          <tr>
            <th>job</th>
            <th>kind</th>
            <th>status</th>
            <th>progress</th>
            <th>latest</th>
          </tr>
        </thead>
        <tbody>
          {e.jobs.map((j) => (
            <tr>
              <td>
                <Link to={`/jobs/${j.id}`}>{j.id}</Link>
              </td>
              <td>{j.kind}</td>
              <td>
                <Status status={j.status} />
              </td>
              <td>
                <Progress value={j.progress} />
              </td>
              <td class="muted">
                {j.latestMetrics
                  .filter((m) => m.name === 'accuracy' || m.name === 'loss')
                  .map((m) => `${m.split}/${m.name} ${number(m.value, 3)}`)
                  .join(' · ')}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
