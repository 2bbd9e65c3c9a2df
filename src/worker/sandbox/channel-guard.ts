/**
 * The IPC channel of a sandbox child: once it is broken, exit instead of
 * talking to nobody.
 *
 * When the worker dies, every message the child sends fails with EPIPE.
 * BullMQ's child wrapper reports an uncaught error by sending it to the
 * parent and exits only after that send; the send rejects, the rejection is
 * itself uncaught, and the handler sends again: a loop of microtasks that
 * never yields to the event loop (seen in the chaos run as orphans at 100 %
 * CPU with `write(3, ...) = -1 EPIPE` tens of thousands of times a second).
 * The same happens when the child writes to its stdout or stderr, which are
 * pipes to the dead worker.
 *
 * So: the first send that fails, a send attempted after the channel closed,
 * an EPIPE on stdout/stderr, an uncaught error once the channel is broken,
 * and the 'disconnect' event each end the process at once, synchronously,
 * before anything can send again. Exiting is right: without its worker the
 * child can neither report a result nor be cancelled, and the job's lock
 * expires so another worker resumes it from its last checkpoint (its lease
 * fences out anything this attempt might still write).
 */
import { writeSync } from 'node:fs';

const CHANNEL_ERRORS = new Set(['EPIPE', 'ERR_IPC_CHANNEL_CLOSED', 'ERR_IPC_DISCONNECTED']);

type Send = NonNullable<typeof process.send>;

/** install the guard in a forked child (a no-op in a process without an IPC channel) */
export function guardChannel(exit: (code: number) => never = (code) => process.exit(code)): void {
  const send = process.send?.bind(process) as Send | undefined;
  if (!send) return;
  let broken = false;
  const die = (why: string) => {
    if (broken) return;
    broken = true;
    try {
      // straight to fd 2: no stream, no event loop; fails harmlessly if stderr is the dead worker's pipe
      writeSync(2, `sandbox child ${process.pid}: ${why}; exiting\n`);
    } catch {
      // nobody is listening
    }
    exit(1);
  };

  process.send = ((message: unknown, ...rest: unknown[]) => {
    if (broken || !process.connected) {
      die('the IPC channel to its worker is closed');
      return false;
    }
    const callback = typeof rest.at(-1) === 'function' ? (rest.pop() as (err: Error | null) => void) : undefined;
    return (send as (...args: unknown[]) => boolean)(message, ...rest, (err: (Error & { code?: string }) | null) => {
      if (err) die(`a message to its worker failed (${err.code ?? err.message})`);
      else callback?.(null);
    });
  }) as Send;

  process.once('disconnect', () => die('its worker closed the IPC channel'));
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (err: Error & { code?: string }) => {
      if (err.code === 'EPIPE') die('its worker no longer reads its output');
    });
  }
  // first in line, ahead of BullMQ's handler (which would try to send the error to the parent)
  process.prependListener('uncaughtException', (err: Error & { code?: string }) => {
    if (broken || !process.connected) die(`uncaught error after the IPC channel closed (${err.message})`);
    else if (err.code && CHANNEL_ERRORS.has(err.code)) die(`uncaught channel error (${err.code})`);
  });
}
