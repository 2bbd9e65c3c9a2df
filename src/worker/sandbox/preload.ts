/**
 * Loaded with `--import` into every sandbox child, before BullMQ's child
 * wrapper and the processor: the child exits when its worker is gone, however
 * busy its main thread is (see parent-watchdog.ts and channel-guard.ts).
 */
import { guardChannel } from './channel-guard.js';
import { startParentWatchdog } from './parent-watchdog.js';
import { PARENT_PID_ENV } from './fork-options.js';

/** how often the watchdog thread looks at the parent pid: a killed worker's children are gone within about this long */
const WATCHDOG_INTERVAL_MS = 200;

guardChannel();
const parentPid = Number(process.env[PARENT_PID_ENV]);
startParentWatchdog(Number.isInteger(parentPid) && parentPid > 1 ? parentPid : process.ppid, WATCHDOG_INTERVAL_MS);
