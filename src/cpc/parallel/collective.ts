/**
 * Collective operations between the data-parallel workers of one training
 * run (threads of one process), over SharedArrayBuffers with an Atomics
 * barrier. Every worker combines the contributions in rank order, so all
 * replicas get bitwise identical results and stay in lock-step.
 *
 * The rule every caller keeps: every worker makes the same collective calls,
 * with payloads of the same length, in the same order. (The replicas run the
 * same code on the same config, so they do: forward, then the BN statistics of
 * each layer in layer order, the code gather, the gradient sum.) A worker that
 * cannot go on (it threw, or its thread died) aborts the collective: its peers,
 * waiting at a barrier or arriving at one later, throw CollectiveAborted at
 * once, so the step fails on every thread instead of waiting out the timeout.
 * An aborted collective stays aborted; the run ends.
 */

export interface Collective {
  readonly rank: number;
  readonly size: number;
  /** element-wise sum over all workers */
  allReduceSum(local: Float32Array): Float32Array;
  /** concatenation of every worker's (equal-length) block, in rank order */
  allGather(local: Float32Array): Float32Array;
}

/** The trivial collective of a single worker. */
export const SOLO: Collective = {
  rank: 0,
  size: 1,
  allReduceSum: (local) => local,
  allGather: (local) => local,
};

export interface SharedCollectiveBuffers {
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  /** floats per worker slot */
  capacity: number;
}

/** control words: the barrier's generation, its arrivals, and the abort flag */
const GENERATION = 0;
const ARRIVALS = 1;
const ABORTED = 2;

export function createCollectiveBuffers(size: number, capacity: number): SharedCollectiveBuffers {
  return {
    control: new SharedArrayBuffer(3 * Int32Array.BYTES_PER_ELEMENT),
    data: new SharedArrayBuffer(size * capacity * Float32Array.BYTES_PER_ELEMENT),
    capacity,
  };
}

export class CollectiveTimeout extends Error {
  constructor(seconds: number) {
    super(`a data-parallel peer did not reach the barrier within ${seconds} s`);
    this.name = 'CollectiveTimeout';
  }
}

export class CollectiveAborted extends Error {
  constructor() {
    super('a data-parallel peer failed; this step stops on every worker');
    this.name = 'CollectiveAborted';
  }
}

/** Stop every worker of the collective (from a worker that failed, or from the thread that runs them). */
export function abortCollective(buffers: SharedCollectiveBuffers): void {
  const control = new Int32Array(buffers.control);
  Atomics.store(control, ABORTED, 1);
  Atomics.notify(control, GENERATION);
}

export class SharedCollective implements Collective {
  private readonly control: Int32Array;
  private readonly slots: Float32Array;

  constructor(
    readonly rank: number,
    readonly size: number,
    private readonly buffers: SharedCollectiveBuffers,
    private readonly timeoutMs = 300_000,
  ) {
    this.control = new Int32Array(buffers.control);
    this.slots = new Float32Array(buffers.data);
  }

  abort(): void {
    abortCollective(this.buffers);
  }

  private checkAborted(): void {
    if (Atomics.load(this.control, ABORTED)) throw new CollectiveAborted();
  }

  /** Sense-reversing barrier on the generation counter; an abort wakes every waiter. */
  private barrier(): void {
    this.checkAborted();
    const generation = Atomics.load(this.control, GENERATION);
    if (Atomics.add(this.control, ARRIVALS, 1) === this.size - 1) {
      Atomics.store(this.control, ARRIVALS, 0);
      Atomics.add(this.control, GENERATION, 1);
      Atomics.notify(this.control, GENERATION);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(this.control, GENERATION) === generation) {
      this.checkAborted();
      const left = deadline - Date.now();
      if (left <= 0) throw new CollectiveTimeout(this.timeoutMs / 1000);
      Atomics.wait(this.control, GENERATION, generation, left);
    }
  }

  private publish(local: Float32Array): void {
    if (local.length > this.buffers.capacity)
      throw new Error(`collective payload of ${local.length} floats exceeds the slot capacity ${this.buffers.capacity}`);
    this.slots.set(local, this.rank * this.buffers.capacity);
  }

  allReduceSum(local: Float32Array): Float32Array {
    this.publish(local);
    this.barrier();
    const out = new Float32Array(local.length);
    for (let r = 0; r < this.size; r++) {
      const base = r * this.buffers.capacity;
      for (let i = 0; i < out.length; i++) out[i] += this.slots[base + i];
    }
    this.barrier();
    return out;
  }

  allGather(local: Float32Array): Float32Array {
    this.publish(local);
    this.barrier();
    const out = new Float32Array(local.length * this.size);
    for (let r = 0; r < this.size; r++)
      out.set(this.slots.subarray(r * this.buffers.capacity, r * this.buffers.capacity + local.length), r * local.length);
    this.barrier();
    return out;
  }
}
