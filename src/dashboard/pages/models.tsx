/** The model registry: every name, every version, its aliases and scores. */
import { ErrorLine, Link, useResource } from '../components';
import { ago, percent } from '../format';
import type { Model, Page } from '../types';

function Versions({ name }: { name: string }) {
  const { data, error } = useResource<Page<Model>>(`/v1/models/${encodeURIComponent(name)}/versions?limit=100`);
  if (error) return <ErrorLine error={error} />;
  return (
    <table class="versions">
      <thead>
        <tr>
          <th>version</th>
          <th>aliases</th>
          <th>head</th>
          <th>classes</th>
          <th>test accuracy</th>
          <th>probe job</th>
          <th>registered</th>
        </tr>
      </thead>
      <tbody>
        {data?.items.map((m) => (
          <tr>
            <td>v{m.version}</td>
            <td>{m.aliases.join(', ') || '–'}</td>
            <td>{m.head}</td>
            <td title={m.classNames.join(', ')}>
              {m.classNames.length} ({m.datasetId})
            </td>
            <td>{percent(m.metrics.testAccuracy as number | undefined)}</td>
            <td>
              <Link to={`/jobs/${m.jobId}`}>{m.jobId}</Link>
            </td>
            <td>{ago(m.createdAt)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function ModelsPage() {
  const { data, error } = useResource<Page<Model>>('/v1/models?limit=200', 10_000);
  return (
    <section>
      <h2>Models</h2>
      <ErrorLine error={error} />
      {data && data.items.length === 0 && <p class="muted">No registered models yet (POST /v1/models, or cpc models register).</p>}
      {data?.items.map((m) => (
        <div class="model">
          <h3>
            {m.name} <Link to={`/draw/${encodeURIComponent(m.name)}`}>draw a digit →</Link>
          </h3>
          <Versions name={m.name} />
        </div>
      ))}
    </section>
  );
}
