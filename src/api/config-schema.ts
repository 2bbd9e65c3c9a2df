/**
 * The request schema of a CPC job's config, derived from the engine's field definitions
 * (src/cpc/config.ts CONFIG_FIELDS, MODEL_FIELDS): the same fields, types, limits, defaults and
 * help as the engine checks and the CLI offers. Fields only the service sets (workers) are left out.
 * A probe job's config likewise, from PROBE_FIELDS (src/cpc/probe.ts).
 */
import { Type, type TSchema } from 'typebox';
import { CONFIG_FIELDS, ENGINE_ONLY_FIELDS, MODEL_FIELDS, defaultText, type FieldSpec } from '../cpc/config.js';
import { PROBE_FIELDS } from '../cpc/probe.js';

function fieldSchema(spec: FieldSpec): TSchema {
  // (the default in words: the validator fills `default` keywords in, and this body is a union whose
  // other branch must not receive CPC defaults; resolveConfig applies them)
  const doc = { description: `${spec.help} (default ${defaultText(spec)})` };
  if (spec.type === 'enum')
    return Type.Union(
      spec.values.map((v) => Type.Literal(v)),
      doc,
    );
  const bounds = { ...(spec.exclusiveMin ? { exclusiveMinimum: spec.min } : { minimum: spec.min }), maximum: spec.max };
  return spec.type === 'integer' ? Type.Integer({ ...bounds, ...doc }) : Type.Number({ ...bounds, ...doc });
}

export const optionalFields = (fields: Record<string, FieldSpec>, leaveOut: readonly string[] = []) =>
  Object.fromEntries(
    Object.entries(fields)
      .filter(([k]) => !leaveOut.includes(k))
      .map(([k, spec]) => [k, Type.Optional(fieldSchema(spec))]),
  );

export function cpcConfigSchema() {
  const model = Type.Object(optionalFields(MODEL_FIELDS), { additionalProperties: false });
  return Type.Object(
    { ...optionalFields(CONFIG_FIELDS, ENGINE_ONLY_FIELDS), model: Type.Optional(model) },
    { additionalProperties: false, description: 'CPC training configuration: every field optional, defaults as described' },
  );
}

/** a probe job's config: the engine's PROBE_FIELDS */
export function probeConfigSchema() {
  return Type.Object(optionalFields(PROBE_FIELDS), {
    additionalProperties: false,
    description: 'probe configuration: every field optional, defaults as described',
  });
}
