/**
 * A sweep's points: a grid (every combination of the listed values, in the order given) or a
 * seeded random search (each field drawn from its list, or uniformly from a range, on a log
 * scale if asked). Fields are CPC config paths (`learningRate`, `model.codeSize`); each point
 * is the sweep's base config with the point's values set. Pure: the job service submits them.
 */
import { Rng } from '../cpc/rng.js';
import { CONFIG_FIELDS, ConfigError, ENGINE_ONLY_FIELDS, MODEL_FIELDS } from '../cpc/config.js';
import { closestName } from '../lib/names.js';

/** what a sweep may vary: the API's config fields, and the model's as `model.<field>` */
export const SWEEPABLE_FIELDS: readonly string[] = [
  ...Object.keys(CONFIG_FIELDS).filter((k) => !(ENGINE_ONLY_FIELDS as readonly string[]).includes(k)),
  ...Object.keys(MODEL_FIELDS).map((k) => `model.${k}`),
];

function checkFieldNames(fields: string[]): void {
  for (const field of fields) {
    if (SWEEPABLE_FIELDS.includes(field)) continue;
    const near = closestName(field, SWEEPABLE_FIELDS);
    throw new ConfigError(
      `sweep field ${JSON.stringify(field.slice(0, 100))} is not a config field${near ? `; did you mean ${JSON.stringify(near)}?` : ` (fields: ${SWEEPABLE_FIELDS.join(', ')})`}`,
    );
  }
}

export type SweepValue = number | string | boolean;

export type SweepRange = { min: number; max: number; scale?: 'linear' | 'log'; integer?: boolean } | { values: SweepValue[] };

export interface SweepSpec {
  grid?: Record<string, SweepValue[]>;
  random?: { trials: number; seed?: number; space: Record<string, SweepRange> };
  /** the most jobs the sweep may submit */
  maxJobs: number;
}

export type SweepPoint = Record<string, SweepValue>;

function gridPoints(grid: Record<string, SweepValue[]>): SweepPoint[] {
  let points: SweepPoint[] = [{}];
  for (const [field, values] of Object.entries(grid)) points = points.flatMap((p) => values.map((v) => ({ ...p, [field]: v })));
  return points;
}

function draw(rng: Rng, field: string, range: SweepRange): SweepValue {
  if ('values' in range) return rng.pick(range.values);
  const { min, max, scale = 'linear', integer = false } = range;
  if (!(min <= max)) throw new ConfigError(`sweep field ${field}: min ${min} is above max ${max}`);
  if (!Number.isFinite(max - min)) throw new ConfigError(`sweep field ${field}: the range [${min}, ${max}] is too wide`);
  if (scale === 'log' && !(min > 0)) throw new ConfigError(`sweep field ${field}: a log scale needs min > 0, got ${min}`);
  const [low, high] = [Math.ceil(min), Math.floor(max)];
  if (integer && low > high) throw new ConfigError(`sweep field ${field}: there is no integer in [${min}, ${max}]`);
  if (integer && scale === 'linear') return low + rng.int(high - low + 1); // (each integer equally likely)
  const u = rng.uniform();
  const x = scale === 'log' ? Math.exp(Math.log(min) + u * (Math.log(max) - Math.log(min))) : min + u * (max - min);
  return integer ? Math.min(high, Math.max(low, Math.round(x))) : x;
}

function randomPoints(random: NonNullable<SweepSpec['random']>): SweepPoint[] {
  const rng = new Rng(random.seed ?? 0);
  // fields in name order: the same seed and space give the same points however the body was written
  const fields = Object.keys(random.space).sort();
  return Array.from({ length: random.trials }, () => Object.fromEntries(fields.map((f) => [f, draw(rng, f, random.space[f])])));
}

/** the sweep's points; ConfigError when it is not exactly one of grid and random, or over its budget */
export function sweepPoints(spec: SweepSpec): SweepPoint[] {
  if (!spec.grid === !spec.random) throw new ConfigError('a sweep takes exactly one of grid and random');
  const space = spec.grid ?? spec.random!.space;
  if (Object.keys(space).length === 0) throw new ConfigError('a sweep needs at least one field to vary');
  // (before anything else: only known fields, so a body of thousands of fields costs nothing)
  checkFieldNames(Object.keys(space));
  if (spec.grid) {
    const size = Object.values(spec.grid).reduce((n, values) => n * values.length, 1);
    if (size > spec.maxJobs)
      throw new ConfigError(`the grid has ${size} points, over maxJobs ${spec.maxJobs}: raise maxJobs or list fewer values`);
    return gridPoints(spec.grid);
  }
  if (spec.random!.trials > spec.maxJobs)
    throw new ConfigError(
      `random search with ${spec.random!.trials} trials is over maxJobs ${spec.maxJobs}: raise maxJobs or ask fewer trials`,
    );
  return randomPoints(spec.random!);
}

/** the base config with the point's values set (`model.codeSize` sets `model: { codeSize }`) */
export function applyPoint(base: Record<string, unknown>, point: SweepPoint): Record<string, unknown> {
  const config: Record<string, unknown> = { ...base, model: { ...((base.model as object | undefined) ?? {}) } };
  for (const [path, value] of Object.entries(point)) {
    const [head, ...rest] = path.split('.');
    if (rest.length === 0) config[head] = value;
    else if (head === 'model' && rest.length === 1) (config.model as Record<string, unknown>)[rest[0]] = value;
    else throw new ConfigError(`sweep field ${path.slice(0, 100)}: only config fields and model.<field> can be swept`);
  }
  if (Object.keys(config.model as object).length === 0) delete config.model;
  return config;
}
