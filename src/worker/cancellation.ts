/** A job's cancellation request (set by the API in Postgres) as an AbortSignal, polled once a second. */
import type { Db } from '../store/db.js';

export function watchCancellation(db: Db, jobId: string, everyMs = 1000): { signal: AbortSignal; stop: () => void } {
  const controller = new AbortController();
  const timer = setInterval(() => {
    db.job
      .findUnique({ where: { id: jobId }, select: { cancelRequested: true } })
      .then((r) => r?.cancelRequested && controller.abort())
      .catch(() => undefined); // a Postgres hiccup only delays the check
  }, everyMs);
  return { signal: controller.signal, stop: () => clearInterval(timer) };
}
