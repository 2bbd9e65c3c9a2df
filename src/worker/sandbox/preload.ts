/**
 * Loaded with `--import` into every sandbox child, before BullMQ's child
 * wrapper and the processor: a child whose worker is gone does not spin on
 * its dead IPC channel (channel-guard.ts). The parent watchdog, which ends
 * the child however busy its main thread is, starts earlier still, from the
 * child's first `--import` (fork-options.ts, parent-watchdog.ts).
 */
import { guardChannel } from './channel-guard.js';

guardChannel();
