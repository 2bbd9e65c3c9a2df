/**
 * Workaround for a BullMQ 6.7 sandbox bug: a child that dies while it starts
 * (killed, out of memory, crashed loading the processor) leaves its job
 * `active` for ever.
 *
 * BullMQ's Child.init() waits for the child's InitCompleted message or its
 * 'close' event. But the 'exit' event comes first, and Child's exit handler
 * removes every listener ("no more events after exit"), including the one
 * waiting for 'close'; init() then never settles, the job's processor never
 * returns, and the worker keeps renewing the job's lock, so neither BullMQ's
 * stall check nor our reaper ever takes the job back. (Seen in the chaos
 * run: a sandbox child SIGKILLed during start-up; reproduced in
 * test/service/orphans.test.ts.)
 *
 * The fix: init() also settles (rejects) on the child's 'exit', which Child
 * emits to its own listeners before it removes them. The job's attempt then
 * fails like any killed child's, and BullMQ retries it.
 */
import { Child } from 'bullmq';

const PATCHED = Symbol.for('cpc-service.child-init-settles-on-exit');

type PatchableChild = Child & { [PATCHED]?: true };

export function settleChildInitOnExit(): void {
  const proto = Child.prototype as PatchableChild;
  if (proto[PATCHED]) return;
  const init = proto.init;
  if (typeof init !== 'function' || typeof proto.once !== 'function') {
    throw new Error(
      'bullmq Child.init is not where this workaround expects it: check src/worker/sandbox/child-init.ts against the installed BullMQ',
    );
  }
  proto.init = function (this: Child) {
    return new Promise<void>((resolve, reject) => {
      const onExit = (code: number | null, signal: string | null) =>
        reject(new Error(`the sandbox child exited while starting (code ${code}, signal ${signal})`));
      this.once('exit', onExit);
      init.call(this).then(
        () => {
          this.off('exit', onExit);
          resolve();
        },
        (err: unknown) => {
          this.off('exit', onExit);
          reject(err);
        },
      );
    });
  };
  proto[PATCHED] = true;
}
