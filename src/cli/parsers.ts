/** Flag value parsers shared by the commands (a bad value is commander's usage error: exit code 2). */
import { InvalidArgumentError } from 'commander';

export function int(name: string) {
  return (v: string) => {
    const n = Number(v);
    if (!Number.isInteger(n)) throw new InvalidArgumentError(`${name} must be an integer`);
    return n;
  };
}

/** a count of things: 1 or more (and at most `max`, when given) */
export function positive(name: string, max = Infinity) {
  return (v: string) => {
    const n = int(name)(v);
    if (n < 1) throw new InvalidArgumentError(`${name} must be at least 1`);
    if (n > max) throw new InvalidArgumentError(`${name} must be at most ${max}`);
    return n;
  };
}
