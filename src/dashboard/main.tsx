/**
 * The dashboard: one page, routed by the URL's hash (#/jobs, #/jobs/:id,
 * #/experiments, #/experiments/:id, #/models, #/datasets, #/draw/:model).
 * Served by the API at / from what `npm run build:dashboard` wrote.
 */
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { apiKey } from './api';
import { JobsPage } from './pages/jobs';
import { JobPage } from './pages/job';
import { ExperimentPage, ExperimentsPage } from './pages/experiments';
import { ModelsPage } from './pages/models';
import { DatasetsPage } from './pages/datasets';
import { DrawPage } from './pages/draw';
import './style.css';

function useHash(): string {
  const [hash, setHash] = useState(location.hash.slice(1) || '/jobs');
  useEffect(() => {
    const changed = () => setHash(location.hash.slice(1) || '/jobs');
    addEventListener('hashchange', changed);
    return () => removeEventListener('hashchange', changed);
  }, []);
  return hash;
}

function Page({ path }: { path: string }) {
  const [, section, id] = path.split('/').map(decodeURIComponent);
  if (section === 'jobs') return id ? <JobPage id={id} key={id} /> : <JobsPage />;
  if (section === 'experiments') return id ? <ExperimentPage id={id} key={id} /> : <ExperimentsPage />;
  if (section === 'models') return <ModelsPage />;
  if (section === 'datasets') return <DatasetsPage />;
  if (section === 'draw') return <DrawPage name={id ?? null} key={id} />;
  return <p class="error">No page {path}.</p>;
}

/** the API key, entered once and kept for this browser tab */
function KeyBox({ onChange }: { onChange: () => void }) {
  const [key, setKey] = useState(apiKey.get());
  const [editing, setEditing] = useState(!key);
  if (!editing)
    return (
      <span class="key">
        key {key ? `${key.slice(0, 16)}…` : 'none'} <button onClick={() => setEditing(true)}>change</button>
      </span>
    );
  return (
    <form
      class="key"
      onSubmit={(e) => {
        e.preventDefault();
        apiKey.set(key);
        setEditing(false);
        onChange();
      }}
    >
      <input name="api-key" type="password" placeholder="API key (cpc_…)" value={key} onInput={(e) => setKey(e.currentTarget.value)} />
      <button type="submit">Use key</button>
    </form>
  );
}

function App() {
  const path = useHash();
  const [generation, setGeneration] = useState(0);
  const nav = [
    ['/jobs', 'Jobs'],
    ['/experiments', 'Experiments'],
    ['/models', 'Models'],
    ['/datasets', 'Data sets'],
    ['/draw', 'Draw'],
  ];
  return (
    <>
      <header>
        <h1>cpc-service</h1>
        <nav>
          {nav.map(([to, label]) => (
            <a href={`#${to}`} class={path.startsWith(to) ? 'active' : ''}>
              {label}
            </a>
          ))}
          <a href="/docs">API docs</a>
          <a href="/admin/queues">Queues</a>
        </nav>
        <KeyBox onChange={() => setGeneration((g) => g + 1)} />
      </header>
      <main key={generation}>
        {apiKey.get() ? (
          <Page path={path} />
        ) : (
          <p class="muted">
            Enter an API key above to begin (the quickstart's admin key is in .local/api-key; make others with cpc keys create). It is kept
            for this tab only.
          </p>
        )}
      </main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
