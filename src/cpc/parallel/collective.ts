/**
 * Collective operations between the data-parallel workers of one training
 * run (threads of one process), over SharedArrayBuffers with an Atomics
 * barrier. Every worker combines the contributions in rank order, so all
 * replicas get bitwise identical results and stay in lock-step.
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

export function createCollectiveBuffers(size: number, capacity: number): SharedCollectiveBuffers {
  return {
    control: new SharedArrayBuffer(2 * Int32Array.BYTES_PER_ELEMENT),
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

  /** Sense-reversing barrier: control[0] = generation, control[1] = arrivals. */
  private barrier(): void {
    const generation = Atomics.load(this.control, 0);
    if (Atomics.add(this.control, 1, 1) === this.size - 1) {
      Atomics.store(this.control, 1, 0);
      Atomics.add(this.control, 0, 1);
      Atomics.notify(this.control, 0);
      return;
    }
    const deadline = Date.now() + this.timeoutMs;
    while (Atomics.load(this.control, 0) === generation) {
      const left = deadline - Date.now();
      if (left <= 0) throw new CollectiveTimeout(this.timeoutMs / 1000);
      Atomics.wait(this.control, 0, generation, left);
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
