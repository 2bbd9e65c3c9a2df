/**
 * One config definition, three surfaces: the API's request schema, the CLI's flags and the
 * engine's check (which config files and resolveConfig use) accept and refuse the same values,
 * field by field, at and beyond every limit.
 */
import { describe, expect, it } from 'vitest';
import { Command } from 'commander';
import { validatorCompiler } from '../src/api/validation.js';
import { CpcJobConfig, ProbeJobConfig } from '../src/api/schemas.js';
import { addConfigFlags, CONFIG_FLAGS, configFromFlags, PROBE_FLAGS, probeConfigFromFlags } from '../src/cli/config-flags.js';
import { checkProbeInput, PROBE_FIELDS } from '../src/cpc/probe.js';
import {
  checkConfigInput,
  CONFIG_FIELDS,
  ConfigError,
  DEFAULT_CONFIG,
  ENGINE_ONLY_FIELDS,
  MODEL_FIELDS,
  resolveConfig,
  type FieldSpec,
} from '../src/cpc/config.js';

const apiCheck = validatorCompiler({ schema: CpcJobConfig as object, httpPart: 'body', method: 'POST', url: '/v1/jobs' }) as (
  v: unknown,
) => boolean;

/** values around a field's limits, with whether the definition allows each */
function probes(spec: FieldSpec): Array<[unknown, boolean]> {
  if (spec.type === 'enum') {
    const other = typeof spec.values[0] === 'number' ? 32 : 'nope';
    return [...spec.values.map((v): [unknown, boolean] => [v, true]), [other, false]];
  }
  const step = spec.type === 'integer' ? 1 : Math.max(spec.max - spec.min, 1) * 1e-3;
  const out: Array<[unknown, boolean]> = [
    [spec.min, !spec.exclusiveMin],
    [spec.max, true],
    [spec.min - step, false],
    [spec.max + step, false],
  ];
  if (spec.type === 'integer') out.push([spec.min + 0.5, false]);
  return out;
}

const fields = [
  ...Object.entries(CONFIG_FIELDS).map(([k, spec]) => ({ name: k, spec, input: (v: unknown) => ({ [k]: v }) })),
  ...Object.entries(MODEL_FIELDS).map(([k, spec]) => ({ name: `model.${k}`, spec, input: (v: unknown) => ({ model: { [k]: v } }) })),
];

const probeApiCheck = validatorCompiler({ schema: ProbeJobConfig as object, httpPart: 'body', method: 'POST', url: '/v1/jobs' }) as (
  v: unknown,
) => boolean;

function engineAccepts(input: object, check: (input: Record<string, unknown>) => unknown = checkConfigInput): boolean {
  try {
    check(input as Record<string, unknown>);
    return true;
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return false;
  }
}

/** `cpc train --<flag> <value>`, parsed by the real option definitions, then checked as the CLI does */
function cliAccepts(name: string, value: unknown): boolean {
  const flag = CONFIG_FLAGS.find((f) => f.path.join('.') === name)!;
  const command = addConfigFlags(new Command('train').exitOverride().configureOutput({ writeErr: () => undefined }));
  try {
    command.parse([`--${flag.flag}`, String(value)], { from: 'user' });
    // (configFromFlags refuses a value out of its field's range, naming the flag)
    return engineAccepts(configFromFlags(command.opts()));
  } catch {
    return false; // commander refused it (not a number, not a choice), or the flag's range did
  }
}

describe('config surfaces', () => {
  it('every field is on every surface (workers only on the engine side: the service sets it)', () => {
    const apiFields = Object.keys(CpcJobConfig.properties).filter((k) => k !== 'model');
    expect(apiFields.sort()).toEqual(
      Object.keys(CONFIG_FIELDS)
        .filter((k) => !(ENGINE_ONLY_FIELDS as readonly string[]).includes(k))
        .sort(),
    );
    expect(Object.keys(CpcJobConfig.properties.model.properties).sort()).toEqual(Object.keys(MODEL_FIELDS).sort());
    expect(CONFIG_FLAGS.map((f) => f.path.join('.')).sort()).toEqual(fields.map((f) => f.name).sort());
    expect(apiCheck({ workers: 2 })).toBe(false);
    expect(cliAccepts('workers', 2)).toBe(true);
  });

  it('the API, the CLI and the engine accept and refuse the same values at every limit', () => {
    let checked = 0;
    for (const { name, spec, input } of fields) {
      for (const [value, allowed] of probes(spec)) {
        const answers = {
          definition: allowed,
          engine: engineAccepts(input(value)),
          cli: cliAccepts(name, value),
          ...(name === 'workers' ? {} : { api: apiCheck(input(value)) }),
        };
        expect(answers, `${name} = ${JSON.stringify(value)}`).toEqual({
          definition: allowed,
          engine: allowed,
          cli: allowed,
          ...(name === 'workers' ? {} : { api: allowed }),
        });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(100);
  });

  it('a probe config too: the API, `cpc probe` and the engine agree on every field and limit', () => {
    expect(Object.keys(ProbeJobConfig.properties).sort()).toEqual(Object.keys(PROBE_FIELDS).sort());
    expect(PROBE_FLAGS.map((f) => f.path[0]).sort()).toEqual(Object.keys(PROBE_FIELDS).sort());
    let checked = 0;
    for (const [name, spec] of Object.entries(PROBE_FIELDS)) {
      for (const [value, allowed] of probes(spec)) {
        const flag = PROBE_FLAGS.find((f) => f.path[0] === name)!;
        const command = addConfigFlags(new Command('probe').exitOverride().configureOutput({ writeErr: () => undefined }), PROBE_FLAGS);
        let cli: boolean;
        try {
          command.parse([`--${flag.flag}`, String(value)], { from: 'user' });
          cli = engineAccepts(probeConfigFromFlags(command.opts()), checkProbeInput);
        } catch {
          cli = false;
        }
        const answers = { engine: engineAccepts({ [name]: value }, checkProbeInput), cli, api: probeApiCheck({ [name]: value }) };
        expect(answers, `probe ${name} = ${JSON.stringify(value)}`).toEqual({ engine: allowed, cli: allowed, api: allowed });
        checked++;
      }
    }
    expect(checked).toBeGreaterThan(25);
    expect(() => checkProbeInput({ trainImage: 500 })).toThrow(/did you mean "trainImages"/);
  });

  it('defaults come from the definition, and an unknown field is refused with what it most likely meant', () => {
    expect(DEFAULT_CONFIG.batchSize).toBe(CONFIG_FIELDS.batchSize.default);
    expect(resolveConfig({}).model.filters).toBe(MODEL_FIELDS.filters.default);
    expect(() => checkConfigInput({ epoch: 5 })).toThrow(/unknown config field "epoch"; did you mean "epochs"\?/);
    expect(() => checkConfigInput({ model: { filter: 8 } })).toThrow(/did you mean "model.filters"/);
    expect(() => checkConfigInput({ zzzzzz: 1 })).toThrow(/^unknown config field "zzzzzz"$/);
    expect(apiCheck({ epoch: 5 })).toBe(false);
    // the service's own fields are not a client's
    expect(() => checkConfigInput({ workers: 2 }, { engineFields: false })).toThrow(/unknown config field "workers"/);
  });
});
