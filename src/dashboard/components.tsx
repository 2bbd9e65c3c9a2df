/** Pieces every page uses: links, status badges, progress bars, load states, images behind the key. */
import type { ComponentChildren } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import { get, imageUrl } from './api';

export const Link = ({ to, children }: { to: string; children: ComponentChildren }) => <a href={`#${to}`}>{children}</a>;

/** a labelled <select> of fixed values (the first is chosen) */
export const Choice = ({ label, name, values }: { label: string; name: string; values: readonly string[] }) => (
  <label>
    {label}{' '}
    <select name={name}>
      {values.map((v) => (
        <option value={v}>{v}</option>
      ))}
    </select>
  </label>
);

export const Status = ({ status }: { status: string }) => <span class={`status status-${status}`}>{status.replace('_', ' ')}</span>;

export const Progress = ({ value }: { value: number }) => (
  <span class="progress" title={`${(value * 100).toFixed(1)}%`}>
    <span style={{ width: `${Math.max(0, Math.min(1, value)) * 100}%` }} />
  </span>
);

export function ErrorLine({ error }: { error: unknown }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error instanceof Error ? error.message : String(error)}
    </p>
  );
}

/** GET `path` (again every `refreshMs`, when given); `version` changes force a reload */
export function useResource<T>(path: string | null, refreshMs = 0, version = 0): { data: T | null; error: unknown } {
  const [state, setState] = useState<{ data: T | null; error: unknown }>({ data: null, error: null });
  useEffect(() => {
    if (!path) return;
    let live = true;
    const load = () =>
      get<T>(path).then(
        (data) => live && setState({ data, error: null }),
        (error: unknown) => live && setState((s) => ({ data: s.data, error })),
      );
    void load();
    const timer = refreshMs ? setInterval(() => void load(), refreshMs) : undefined;
    return () => {
      live = false;
      clearInterval(timer);
    };
  }, [path, refreshMs, version]);
  return state;
}

/** an <img> of an image the API serves behind the key */
export function AuthImage({ path, alt, class: className }: { path: string; alt: string; class?: string }) {
  const [src, setSrc] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    let url: string | null = null;
    let live = true;
    imageUrl(path).then(
      (u) => (live ? setSrc((url = u)) : URL.revokeObjectURL(u)),
      (e: unknown) => live && setError(e),
    );
    return () => {
      live = false;
      if (url) URL.revokeObjectURL(url);
    };
  }, [path]);
  if (error) return <ErrorLine error={error} />;
  return src ? <img src={src} alt={alt} class={className} /> : <p class="muted">loading {alt}…</p>;
}
