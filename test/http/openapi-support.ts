// Reading the OpenAPI document as a client does: its operations, and validators for its schemas.
import { Ajv, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv;

export type OpenApiDocument = {
  openapi: string;
  paths: Record<string, Record<string, any>>;
  components?: unknown;
};

/**
 * Compiles schemas of `document` with its components beside them, so their `$ref`s resolve. OpenAPI
 * 3.1 schemas are JSON Schema; keywords Ajv does not know (`example`) are annotations.
 */
export function schemaValidators(document: OpenApiDocument): (schema: object) => ValidateFunction {
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true, validateSchema: false }));
  const cache = new Map<object, ValidateFunction>();
  return (schema) => {
    let validate = cache.get(schema);
    if (!validate) {
      validate = ajv.compile({ ...schema, components: document.components });
      cache.set(schema, validate);
    }
    return validate;
  };
}
