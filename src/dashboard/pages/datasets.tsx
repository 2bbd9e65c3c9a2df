/** Data sets: the built-in MNIST and every upload, with counts and a preview grid. */
import { AuthImage, ErrorLine, useResource } from '../components';
import { ago } from '../format';
import type { Dataset, Page } from '../types';

export function DatasetsPage() {
  const { data, error } = useResource<Page<Dataset>>('/v1/datasets?limit=100');
  return (
    <section>
      <h2>Data sets</h2>
      <ErrorLine error={error} />
      {data?.items.map((d) => (
        <div class="dataset">
          <h3>
            {d.name} <span class="muted">{d.id}</span>
          </h3>
          <p>
            {d.classNames.length} classes ({d.classNames.slice(0, 12).join(', ')}
            {d.classNames.length > 12 ? ', …' : ''}) · {d.images.train} train, {d.images.valid} validation, {d.images.test} test images of{' '}
            {d.image.width}×{d.image.height}×{d.image.channels} · {d.format} · {ago(d.createdAt)}
          </p>
          <AuthImage path={`/v1/datasets/${d.id}/preview.png`} alt={`preview of ${d.name}`} class="preview" />
        </div>
      ))}
    </section>
  );
}
