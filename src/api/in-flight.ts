/**
 * Counts what each client (API key, or address without one) has in flight on
 * this API process, with a cap per client and, optionally, one in total.
 * `enter` answers a release function, or null when a cap is reached.
 */
import type { FastifyRequest } from 'fastify';

export class InFlightLimit {
  private readonly counts = new Map<string, number>();
  private total = 0;

  constructor(
    readonly perClient: number,
    readonly overall = Infinity,
  ) {}

  enter(client: string): (() => void) | null {
    const mine = this.counts.get(client) ?? 0;
    if (mine >= this.perClient || this.total >= this.overall) return null;
    this.counts.set(client, mine + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const left = (this.counts.get(client) ?? 1) - 1;
      if (left > 0) this.counts.set(client, left);
      else this.counts.delete(client);
    };
  }
}

/** the client a request counts against: its API key, else its address */
export function clientOf(req: FastifyRequest): string {
  return req.apiKey ? `key:${req.apiKey.id}` : `ip:${req.ip}`;
}
