/** Jobs: filter by status and kind, sort by any column, watch progress; submit a CPC job. */
import { useMemo, useState } from 'preact/hooks';
import { send } from '../api';
import { Choice, ErrorLine, Link, Progress, Status, useResource } from '../components';
import { ago } from '../format';
import type { Dataset, Job, Page } from '../types';

const STATUSES = ['', 'queued', 'running', 'succeeded', 'failed', 'cancelled'];
type SortKey = 'createdAt' | 'status' | 'kind' | 'progress' | 'device' | 'backend';

export function JobsPage() {
  const [status, setStatus] = useState('');
  const [kind, setKind] = useState('');
  const [sort, setSort] = useState<{ key: SortKey; desc: boolean }>({ key: 'createdAt', desc: true });
  const [version, setVersion] = useState(0);
  const query = new URLSearchParams({ limit: '200', ...(status ? { status } : {}), ...(kind ? { kind } : {}) });
  const { data, error } = useResource<Page<Job>>(`/v1/jobs?${query}`, 2000, version);

  const rows = useMemo(() => {
    const items = [...(data?.items ?? [])];
    const value = (j: Job) => j[sort.key] ?? '';
    items.sort((a, b) => (value(a) < value(b) ? -1 : value(a) > value(b) ? 1 : 0) * (sort.desc ? -1 : 1));
    return items;
  }, [data, sort]);

  const header = (key: SortKey, label: string) => (
    <th>
      <button class="sort" onClick={() => setSort({ key, desc: sort.key === key ? !sort.desc : false })}>
        {label} {sort.key === key ? (sort.desc ? '▼' : '▲') : ''}
      </button>
    </th>
  );

  return (
    <section>
      <h2>Jobs</h2>
      <SubmitForm onSubmitted={() => setVersion((v) => v + 1)} />
      <div class="filters">
        <label>
          status{' '}
          <select value={status} onChange={(e) => setStatus(e.currentTarget.value)} name="status">
            {STATUSES.map((s) => (
              <option value={s}>{s || 'any'}</option>
            ))}
          </select>
        </label>
        <label>
          kind{' '}
          <select value={kind} onChange={(e) => setKind(e.currentTarget.value)} name="kind">
            <option value="">any</option>
            <option value="cpc">cpc</option>
            <option value="probe">probe</option>
          </select>
        </label>
        <span class="muted">{data ? `${rows.length} of ${data.total}` : ''}</span>
      </div>
      <ErrorLine error={error} />
      <table class="jobs">
        <thead>
          <tr>
            <th>job</th>
            {header('kind', 'kind')}
            {header('status', 'status')}
            {header('progress', 'progress')}
            {header('device', 'device')}
            {header('backend', 'backend')}
            {header('createdAt', 'created')}
          </tr>
        </thead>
        <tbody>
          {rows.map((j) => (
            <tr data-job={j.id}>
              <td>
                <Link to={`/jobs/${j.id}`}>{j.id}</Link>
              </td>
              <td>{j.kind}</td>
              <td>
                <Status status={j.status} />
              </td>
              <td>
                <Progress value={j.progress} /> {j.totalSteps ? `${j.step}/${j.totalSteps}` : ''}
              </td>
              <td>{j.device}</td>
              <td>{j.backend ?? '–'}</td>
              <td title={j.createdAt}>{ago(j.createdAt)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** a small CPC job (the quickstart's size by default), optionally probed when it succeeds */
function SubmitForm({ onSubmitted }: { onSubmitted: () => void }) {
  const datasets = useResource<Page<Dataset>>('/v1/datasets?limit=100');
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  async function submit(e: Event) {
    e.preventDefault();
    const form = new FormData(e.currentTarget as HTMLFormElement);
    const int = (name: string) => Number(form.get(name));
    setBusy(true);
    setError(null);
    try {
      const job = await send<Job>('POST', '/v1/jobs', {
        kind: 'cpc',
        datasetId: String(form.get('datasetId') || 'mnist'),
        config: {
          epochs: int('epochs'),
          stepsPerEpoch: int('stepsPerEpoch'),
          batchSize: int('batchSize'),
          imageSize: int('imageSize'),
          color: String(form.get('color')),
          greySteps: 0,
          validationSteps: 8,
          loss: String(form.get('loss')),
          seed: int('seed'),
        },
        ...(form.get('probe') ? { probe: {} } : {}),
      });
      onSubmitted();
      location.hash = `#/jobs/${job.id}`;
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  }

  return (
    <details class="submit">
      <summary>Submit a CPC job</summary>
      <form onSubmit={(e) => void submit(e)} name="submit-job">
        <label>
          data set{' '}
          <select name="datasetId">
            {(datasets.data?.items ?? [{ id: 'mnist', name: 'mnist' } as Dataset]).map((d) => (
              <option value={d.id}>{d.name}</option>
            ))}
          </select>
        </label>
        <label>
          epochs <input name="epochs" type="number" min="1" max="1000" value="3" />
        </label>
        <label>
          steps per epoch <input name="stepsPerEpoch" type="number" min="0" value="50" />
        </label>
        <label>
          batch size <input name="batchSize" type="number" min="2" max="256" value="32" />
        </label>
        <Choice label="image size" name="imageSize" values={['28', '64']} />
        <Choice label="colour" name="color" values={['grey', 'color']} />
        <Choice label="loss" name="loss" values={['infonce', 'binary']} />
        <label>
          seed <input name="seed" type="number" min="0" value="0" />
        </label>
        <label>
          <input name="probe" type="checkbox" checked /> probe it when it succeeds
        </label>
        <button type="submit" disabled={busy}>
          {busy ? 'submitting…' : 'Submit'}
        </button>
        <ErrorLine error={error} />
      </form>
    </details>
  );
}
