/**
 * Request validation without silent repairs. JSON bodies are validated as
 * sent: no type coercion ("5" is not 5) and unknown fields are rejected, not
 * stripped. Path, query and header values arrive as strings, so only those
 * are coerced to the declared types. A union tagged by a field (a job's
 * `kind`) is checked against the one branch its tag names (Ajv's
 * discriminator), so its errors are that branch's, not every branch's.
 */
import { Ajv, type ErrorObject, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';
import { closestName } from '../lib/names.js';

function ajv(options: Options): Ajv {
  // (verbose: errors carry their schema, which names the allowed fields and values in messages)
  const instance = new Ajv({
    removeAdditional: false,
    useDefaults: true,
    allErrors: false,
    strict: false,
    discriminator: true,
    verbose: true,
    ...options,
  });
  addFormats.default(instance);
  return instance;
}

const strict = ajv({ coerceTypes: false });
const fromStrings = ajv({ coerceTypes: 'array' });

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : fromStrings).compile(schema as object);

interface BranchSchema {
  const?: unknown;
  description?: string;
  type?: string;
  required?: string[];
  items?: BranchSchema;
}

/** what one branch of a union takes, in a few words */
function describeBranch(branch: BranchSchema): string {
  if (branch.description) return branch.description;
  if (branch.type === 'object' && branch.required?.length) return `an object with ${branch.required.join(', ')}`;
  if (branch.type === 'array' && branch.items) return `an array of ${describeBranch(branch.items)}`;
  return branch.type ?? 'another value';
}

const list = (values: unknown[]) => values.map((v) => (typeof v === 'string' ? v : JSON.stringify(v))).join(', ');

/**
 * One sentence for the first thing wrong, naming the field and what it may be: an unknown field
 * with the known one it is closest to, a value with the allowed values (a union of constants
 * says so once, not once per constant), a missing or unknown tag with the tags there are.
 */
export function validationMessage(errors: ErrorObject[], dataVar: string): string {
  const first = errors[0];
  // a value whose shape fits none of a union's branches: name every branch, not the first one's
  // complaint. (One that has a branch's shape and fails inside it gets that complaint, which is more
  // precise: a pixel of 300 in a grey image; a union of constants is said below, as its allowed values.)
  const union = errors.find((e) => e.keyword === 'anyOf' && e.instancePath === first.instancePath);
  if (union && first.keyword !== 'const') {
    const schemas = (union.schema ?? []) as BranchSchema[];
    // a union of constants given another type (null, a number for a name): its allowed values
    if (schemas.length && schemas.every((b) => 'const' in b)) {
      return `${dataVar}${union.instancePath} must be one of ${list(schemas.map((b) => b.const))}`;
    }
    const branches = schemas.map(describeBranch);
    return `${dataVar}${union.instancePath} must be one of: ${branches.join('; or ')}`;
  }
  const where = `${dataVar}${first.instancePath}`;
  const params = first.params as Record<string, unknown>;
  const schema = first.parentSchema as
    { properties?: Record<string, unknown>; oneOf?: Array<{ properties?: Record<string, { const?: unknown }> }> } | undefined;
  switch (first.keyword) {
    case 'additionalProperties': {
      const field = String(params.additionalProperty).slice(0, 100);
      const known = Object.keys(schema?.properties ?? {});
      const near = closestName(field, known);
      return `${where} has an unknown field ${JSON.stringify(field)}${near ? `; did you mean ${JSON.stringify(near)}?` : known.length ? ` (known: ${known.join(', ')})` : ''}`;
    }
    case 'enum':
      return `${where} must be one of ${list(params.allowedValues as unknown[])}`;
    case 'const': {
      // a union of constants: every branch failed at the same place
      const allowed = errors
        .filter((e) => e.keyword === 'const' && e.instancePath === first.instancePath)
        .map((e) => e.params.allowedValue);
      return allowed.length > 1 ? `${where} must be one of ${list(allowed)}` : `${where} must be ${list(allowed)}`;
    }
    case 'required': {
      // a tagged union's missing tag: name the tags
      const tag = String(params.missingProperty);
      const tags = (schema?.oneOf ?? []).map((branch) => branch.properties?.[tag]?.const).filter((v) => v !== undefined);
      return tags.length ? `${where} needs "${tag}" (one of ${list(tags)})` : `${where} ${first.message ?? 'is not valid'}`;
    }
    case 'discriminator': {
      const tag = String(params.tag);
      const tags = (schema?.oneOf ?? []).map((branch) => branch.properties?.[tag]?.const).filter((v) => v !== undefined);
      return params.error === 'mapping'
        ? `${where}/${tag} must be one of ${list(tags)}, not ${JSON.stringify(params.tagValue).slice(0, 100)}`
        : `${where} needs "${tag}" (one of ${list(tags)})`;
    }
    default:
      return `${where} ${first.message ?? 'is not valid'}`;
  }
}
