/**
 * Config flags derived from the engine's field definitions: `cpc train`'s from CONFIG_FIELDS and
 * MODEL_FIELDS (src/cpc/config.ts), `cpc probe`'s from PROBE_FIELDS (src/cpc/probe.ts). One flag
 * per field (`--batch-size`, `--model-filters`, ...), its help and default from the definition,
 * choices for enumerated fields. Ranges are checked by the engine, the same check the API's
 * requests and config files get.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import { readFileSync } from 'node:fs';
import {
  CONFIG_FIELDS,
  MODEL_FIELDS,
  checkConfigInput,
  defaultText,
  fieldProblem,
  resolveConfig,
  ConfigError,
  DEFAULT_CONFIG,
  MACHINE_FIELDS,
  type CpcConfig,
  type ModelConfig,
  type CpcConfigInput,
  type FieldSpec,
} from '../cpc/config.js';
import { UsageError } from './usage-error.js';
import { PROBE_FIELDS, type ProbeConfig } from '../cpc/probe.js';

const kebab = (name: string) => name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
/** commander's attribute name of a flag: --model-conv-layers -> modelConvLayers */
const camel = (flag: string) => flag.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());

interface Flag {
  flag: string;
  spec: FieldSpec;
  /** where its value goes: ['batchSize'] or ['model', 'filters'] */
  path: [string] | ['model', string];
}

const flagsOf = (fields: Record<string, FieldSpec>): Flag[] =>
  Object.entries(fields).map(([key, spec]) => ({ flag: spec.flag ?? kebab(key), spec, path: [key] }));

export const CONFIG_FLAGS: Flag[] = [
  ...flagsOf(CONFIG_FIELDS),
  ...Object.entries(MODEL_FIELDS).map(([key, spec]): Flag => ({ flag: `model-${kebab(key)}`, spec, path: ['model', key] })),
];

export const PROBE_FLAGS: Flag[] = flagsOf(PROBE_FIELDS);

function parser(flag: string, spec: FieldSpec) {
  return (value: string) => {
    const n = Number(value);
    if (spec.type === 'integer' && !Number.isInteger(n)) throw new InvalidArgumentError(`--${flag} must be an integer`);
    if (!Number.isFinite(n)) throw new InvalidArgumentError(`--${flag} must be a number`);
    return n;
  };
}

function option({ flag, spec }: Flag): Option {
  const range = spec.type === 'enum' ? '' : ` ${spec.exclusiveMin ? '(' : '['}${spec.min}, ${spec.max}]`;
  const option = new Option(`--${flag} <value>`, `${spec.help}${range} (default ${defaultText(spec)})`);
  if (spec.type !== 'enum') return option.argParser(parser(flag, spec));
  const choices = spec.values.map(String);
  // (numeric choices, like imageSize, arrive as numbers)
  return typeof spec.values[0] === 'number' ? option.choices(choices).argParser(Number) : option.choices(choices);
}

export function addConfigFlags(command: Command, flags = CONFIG_FLAGS): Command {
  for (const flag of flags) command.addOption(option(flag));
  return command;
}

/** the probe fields the flags set */
export function probeConfigFromFlags(options: Record<string, unknown>): Partial<ProbeConfig> {
  return valuesOf(options, PROBE_FLAGS);
}

/** the config fields the flags set (unset flags leave the field to the file or the default) */
export function configFromFlags(options: Record<string, unknown>): CpcConfigInput {
  return valuesOf(options, CONFIG_FLAGS) as CpcConfigInput;
}

/** the fields the flags set; a value out of its field's range is a UsageError naming the flag */
function valuesOf(options: Record<string, unknown>, flags: Flag[]): Record<string, unknown> {
  const config: Record<string, unknown> = {};
  const model: Record<string, unknown> = {};
  for (const { flag, path, spec } of flags) {
    const value = options[camel(flag)];
    if (value === undefined) continue;
    const problem = fieldProblem(`--${flag}`, spec, value);
    if (problem) throw new UsageError(problem);
    if (path[0] === 'model') model[path[1]!] = value;
    else config[path[0]] = value;
  }
  return { ...config, ...(Object.keys(model).length ? { model } : {}) };
}

/** a config file, checked against the same field definitions as flags and API requests */
function readConfigFile(path: string, engineFields = true): CpcConfigInput {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    if ((err as { code?: string }).code) throw err;
    throw new UsageError(`${path} is not valid JSON: ${(err as Error).message}`);
  }
  try {
    return checkConfigInput(parsed, { engineFields });
  } catch (err) {
    throw new UsageError(`${path}: ${(err as Error).message}`);
  }
}

/**
 * A CPC config from `--config FILE` with flags over it (unset fields stay unset: the engine or
 * the service fills in the defaults); `engineFields: false` for what the API takes.
 */
export function configFromFileAndFlags(options: { config?: string } & Record<string, unknown>, engineFields = true): CpcConfigInput {
  const fromFile = options.config ? readConfigFile(options.config, engineFields) : {};
  const fromFlags = configFromFlags(options);
  const model = { ...(fromFile.model ?? {}), ...(fromFlags.model ?? {}) };
  return { ...fromFile, ...fromFlags, ...(Object.keys(model).length ? { model } : {}) };
}

/**
 * The full config that `input` (configFromFileAndFlags of `options`) stands for, with the
 * cross-field checks; their errors name the config file when there is one, as its field errors do.
 */
export function resolveFileAndFlags(input: CpcConfigInput, options: { config?: string } & Record<string, unknown>): CpcConfig {
  try {
    return resolveConfig(input);
  } catch (err) {
    if (!options.config || !(err instanceof ConfigError)) throw err;
    const withFlags = Object.keys(configFromFlags(options)).length > 0;
    throw new ConfigError(`${options.config}${withFlags ? ' with the flags' : ''}: ${err.message}`);
  }
}

/**
 * The recipe fields that `given` (a config file and flags) sets otherwise than the config a resumed
 * run goes on with (its checkpoint's): ignored, so the user is told. A field the checkpoint lacks
 * counts as its default; where the data is and the worker threads are applied (MACHINE_FIELDS).
 * Model fields are named `model.filters` and so on.
 */
export function fieldsIgnoredOnResume(given: CpcConfigInput, run: CpcConfig): string[] {
  const differs = (a: unknown, b: unknown) => JSON.stringify(a) !== JSON.stringify(b);
  const { model, ...top } = given;
  return [
    ...Object.entries(top)
      .filter(([key]) => !(MACHINE_FIELDS as readonly string[]).includes(key))
      .filter(([key, value]) => differs(value, run[key as keyof CpcConfig] ?? DEFAULT_CONFIG[key as keyof CpcConfig]))
      .map(([key]) => key),
    ...Object.entries(model ?? {})
      .filter(([key, value]) => differs(value, run.model[key as keyof ModelConfig] ?? DEFAULT_CONFIG.model[key as keyof ModelConfig]))
      .map(([key]) => `model.${key}`),
  ];
}

/** a config field as a user may have set it: `learningRate (--lr)`, `model.filters (--model-filters)` */
export function fieldWithFlag(field: string): string {
  const flag = CONFIG_FLAGS.find((f) => f.path.join('.') === field);
  return flag ? `${field} (--${flag.flag})` : field;
}
