/**
 * Parent-death watchdog for a sandbox child, on its own thread.
 *
 * A sandboxed processor must not outlive the worker that forked it. Anything
 * that watches for that on the child's main event loop (a 'disconnect'
 * listener, a timer, an error handler) runs only when that loop gets a turn,
 * and a loop that is spinning (a rejection storm) or blocked (a long
 * synchronous TensorFlow.js step) never gives it one. This watchdog is a
 * worker thread: its own OS thread, V8 isolate and event loop, so it runs
 * whatever the main thread is doing. Every `intervalMs` it compares the
 * process's current parent with the worker's pid; when the worker dies, the
 * kernel re-parents the child at once (to PID 1 or a subreaper), so the
 * parent pid changes and cannot change back, and the thread SIGKILLs its own
 * process: a signal delivered by the kernel, not a callback that waits for
 * the main loop. Nothing in the thread goes through the main thread (no
 * console: a worker thread's console is relayed by the main loop).
 */
import { Worker } from 'node:worker_threads';

const WATCHDOG_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const { parentPid, intervalMs } = workerData;
function check() {
  if (process.ppid === parentPid) return;
  try {
    writeSync(2, 'sandbox child ' + process.pid + ': its worker (pid ' + parentPid + ') is gone; exiting\\n');
  } catch {}
  process.kill(process.pid, 'SIGKILL');
}
check();
setInterval(check, intervalMs);
`;

/**
 * Start the watchdog thread. `parentPid` is the worker's pid as the worker
 * itself reported it (not this process's ppid at start-up, which may already
 * be PID 1 if the worker died during the fork). The thread does not keep the
 * process alive.
 */
export function startParentWatchdog(parentPid: number, intervalMs: number): Worker {
  const thread = new Worker(WATCHDOG_SOURCE, {
    eval: true,
    workerData: { parentPid, intervalMs },
    // no loaders (tsx) in this thread, and a small heap: it only compares two integers
    execArgv: [],
    resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
    stdout: false,
    stderr: false,
  });
  thread.unref();
  // the source cannot throw; should the thread die anyway (out of memory), say so rather than crash the job
  thread.on('error', (err) => process.emitWarning(`parent watchdog thread failed: ${err.message}`));
  return thread;
}
