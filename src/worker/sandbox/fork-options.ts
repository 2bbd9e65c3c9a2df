/**
 * How the worker forks its sandboxed processors: every child starts its
 * parent watchdog before anything else, loads ./preload before BullMQ's own
 * child wrapper, and learns its worker's pid from the environment.
 */
import type { ForkOptions } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';
import { watchdogImportUrl } from './parent-watchdog.js';

export const PARENT_PID_ENV = 'CPC_SANDBOX_PARENT_PID';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
export const PRELOAD_URL = pathToFileURL(join(here, `preload.${ext}`)).href;

/** how often the watchdog thread looks at the parent pid: a killed worker's children are gone within about this long */
const WATCHDOG_INTERVAL_MS = 200;

/**
 * BullMQ `workerForkOptions` for this process's sandbox children: the parent watchdog first (plain
 * JavaScript, before any loader), then the worker's own flags, then the preload.
 */
export function sandboxForkOptions(preloadUrl = PRELOAD_URL, { watchdog = true } = {}): ForkOptions {
  return {
    execArgv: [
      ...(watchdog ? ['--import', watchdogImportUrl(PARENT_PID_ENV, WATCHDOG_INTERVAL_MS)] : []),
      // the worker's own flags (a loader such as tsx) minus inspector ports, which a child cannot share
      ...process.execArgv.filter((arg) => !/^--(inspect|debug)/.test(arg)),
      '--import',
      preloadUrl,
    ],
    env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
  };
}
