/** A job's log: every attempt's lines; followed live while the job runs. */
import { useEffect, useState } from 'preact/hooks';
import { follow, text } from '../api';
import { ErrorLine } from '../components';

interface LogLine {
  attempt: number;
  time: string;
  level: string;
  message: string;
}

export function LogView({ jobId, final }: { jobId: string; final: boolean }) {
  const [lines, setLines] = useState<LogLine[]>([]);
  const [error, setError] = useState<unknown>(null);
  useEffect(() => {
    const stop = new AbortController();
    setLines([]);
    const load = final
      ? text(`/v1/jobs/${encodeURIComponent(jobId)}/logs?format=jsonl`).then((body) =>
          setLines(
            body
              .split('\n')
              .filter(Boolean)
              .map((l) => JSON.parse(l) as LogLine),
          ),
        )
      : follow(
          `/v1/jobs/${encodeURIComponent(jobId)}/logs?follow=true`,
          (event, data) => event === 'log' && setLines((l) => [...l, data as LogLine]),
          stop.signal,
        );
    load.catch((err: unknown) => !stop.signal.aborted && setError(err));
    return () => stop.abort();
  }, [jobId, final]);
  if (error) return <ErrorLine error={error} />;
  return (
    <pre class="log" data-lines={lines.length}>
      {lines.length === 0
        ? 'no log lines yet'
        : lines.map((l) => `#${l.attempt} ${l.time.slice(11, 19)} ${l.level} ${l.message}\n`).join('')}
    </pre>
  );
}
