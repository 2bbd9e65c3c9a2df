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
 * The watchdog as an ES module in a `data:` URL, for a child's first `--import`: it starts the
 * thread before anything else loads (a TypeScript loader such as tsx takes seconds to start on a
 * busy machine, and a child whose worker died meanwhile would outlive it that long). The worker's
 * pid comes from the environment variable `pidEnv`; without one, the child's parent at start-up.
 */
export function watchdogImportUrl(pidEnv: string, intervalMs: number): string {
  const source = `
import { Worker } from 'node:worker_threads';
const fromEnv = Number(process.env[${JSON.stringify(pidEnv)}]);
const parentPid = Number.isInteger(fromEnv) && fromEnv > 1 ? fromEnv : process.ppid;
const thread = new Worker(${JSON.stringify(WATCHDOG_SOURCE)}, {
  eval: true,
  workerData: { parentPid, intervalMs: ${intervalMs} },
  execArgv: [],
  resourceLimits: { maxOldGenerationSizeMb: 8, maxYoungGenerationSizeMb: 2 },
  stdout: false,
  stderr: false,
});
thread.unref();
thread.on('error', (err) => process.emitWarning('parent watchdog thread failed: ' + err.message));
`;
  return `data:text/javascript,${encodeURIComponent(source)}`;
}
