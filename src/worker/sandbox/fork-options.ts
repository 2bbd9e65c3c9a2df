/**
 * How the worker forks its sandboxed processors: every child loads
 * ./preload first (before BullMQ's own child wrapper), and learns its
 * worker's pid from the environment.
 */
import type { ForkOptions } from 'node:child_process';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { dirname, join } from 'node:path';

export const PARENT_PID_ENV = 'CPC_SANDBOX_PARENT_PID';

const here = dirname(fileURLToPath(import.meta.url));
const ext = import.meta.url.endsWith('.ts') ? 'ts' : 'js';
export const PRELOAD_URL = pathToFileURL(join(here, `preload.${ext}`)).href;

/** BullMQ `workerForkOptions` for this process's sandbox children */
export function sandboxForkOptions(preloadUrl = PRELOAD_URL): ForkOptions {
  return {
    // the worker's own flags (a loader such as tsx) minus inspector ports, which a child cannot share
    execArgv: [...process.execArgv.filter((arg) => !/^--(inspect|debug)/.test(arg)), '--import', preloadUrl],
    env: { ...process.env, [PARENT_PID_ENV]: String(process.pid) },
  };
}
