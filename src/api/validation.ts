/**
 * Request validation without silent repairs. JSON bodies are validated as
 * sent: no type coercion ("5" is not 5) and unknown fields are rejected, not
 * stripped. Path, query and header values arrive as strings, so only those
 * are coerced to the declared types.
 */
import { Ajv, type Options } from 'ajv';
import addFormats from 'ajv-formats';
import type { FastifySchema, FastifySchemaCompiler } from 'fastify';

function ajv(options: Options): Ajv {
  const instance = new Ajv({ removeAdditional: false, useDefaults: true, allErrors: false, strict: false, ...options });
  addFormats.default(instance);
  return instance;
}

const strict = ajv({ coerceTypes: false });
const fromStrings = ajv({ coerceTypes: 'array' });

export const validatorCompiler: FastifySchemaCompiler<FastifySchema> = ({ schema, httpPart }) =>
  (httpPart === 'body' ? strict : fromStrings).compile(schema as object);
