// The one map from failures to answers: every error leaves as {"error": {code, message, details?}}.
import type { FastifyError, FastifyReply, FastifyRequest, FastifySchemaValidationError } from 'fastify';
import { type ErrorBody, type ErrorCode, StockholdError } from '../core/errors.ts';
import { isStorageUnavailable, storageUnavailableError } from '../store/storage-faults.ts';
import type { CommandResult } from '../store/store.ts';
import { TEXT_PATTERN } from './schemas.ts';

const FASTIFY_ERRORS: Record<string, ErrorCode> = {
  FST_ERR_CTP_BODY_TOO_LARGE: 'payload_too_large',
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'unsupported_media_type',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'invalid_request',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'invalid_request',
  FST_ERR_CTP_INVALID_JSON_BODY: 'invalid_request',
  FST_ERR_VALIDATION: 'invalid_request',
};

const STATUS_CODES: Record<number, ErrorCode> = {
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  413: 'payload_too_large',
  415: 'unsupported_media_type',
  429: 'rate_limited',
  503: 'overloaded',
};

export function sendError(reply: FastifyReply, error: StockholdError): FastifyReply {
  const retry_after = (error.details as { retry_after_seconds?: number } | undefined)?.retry_after_seconds;
  if (retry_after !== undefined) reply.header('retry-after', String(retry_after));
  return reply.code(error.status).send({ error: error.toBody() });
}

/** Converts anything thrown in a request into a StockholdError; unknown failures become internal_error. */
export function toStockholdError(error: FastifyError | Error): StockholdError {
  if (error instanceof StockholdError) return error;
  // A read that met an outage (writes are answered so by the store): 503 with Retry-After, and not
  // logged per request; the store and the background loops log each outage once.
  if (isStorageUnavailable(error)) return storageUnavailableError(error);
  const fastify_error = error as FastifyError;
  if (fastify_error.validation) {
    const details = describeValidation(fastify_error.validation, fastify_error.validationContext ?? '');
    return new StockholdError(
      'invalid_request',
      details.map(({ path, message }) => `${path} ${message}`).join('; '),
      details,
    );
  }
  const mapped = fastify_error.code ? FASTIFY_ERRORS[fastify_error.code] : undefined;
  if (mapped) return new StockholdError(mapped, fastify_error.message);
  const status = fastify_error.statusCode;
  if (status !== undefined && status >= 400 && status < 500) {
    return new StockholdError(STATUS_CODES[status] ?? 'invalid_request', fastify_error.message);
  }
  return new StockholdError('internal_error', 'the server failed to answer this request; it was logged');
}

export function errorHandler(
  error: FastifyError,
  request: FastifyRequest,
  reply: FastifyReply,
): FastifyReply {
  let mapped = toStockholdError(error);
  if (mapped.code === 'unsupported_media_type') {
    mapped = new StockholdError('unsupported_media_type', mediaTypeAdvice(request.headers['content-type']));
  }
  if (mapped.code === 'internal_error') request.log.error({ err: error }, 'request failed');
  return sendError(reply, mapped);
}

/** Answers a command's outcome: its success status, or the status of its error code. */
export function sendResult(reply: FastifyReply, result: CommandResult, success_status: number): FastifyReply {
  if (result.replayed) reply.header('idempotent-replayed', 'true');
  const { outcome } = result;
  if (outcome.ok) return reply.code(success_status).send(outcome.value);
  const body = outcome.error as ErrorBody;
  return sendError(reply, new StockholdError(body.code, body.message, body.details));
}

/** The 415 message: what to send instead, and what came. */
export function mediaTypeAdvice(content_type: string | undefined): string {
  const got =
    content_type === undefined || content_type.trim() === '' ? 'no Content-Type' : content_type.slice(0, 100);
  return `the body must be JSON: send Content-Type: application/json (got ${got})`;
}

/** An Ajv issue as the validators report it (`verbose`: with the schema that refused the value). */
type ValidationIssue = FastifySchemaValidationError & {
  schema?: unknown;
  parentSchema?: Record<string, unknown>;
};

/**
 * Ajv's issues as messages a client can act on, each naming the field (`body/lines/0/quantity`):
 * an unknown property by name with the allowed ones, an enum or a union of constants as one list of
 * the allowed values (not "must be equal to constant" per value), the text rule in words.
 */
export function describeValidation(
  issues: readonly ValidationIssue[],
  context: string,
): { path: string; message: string }[] {
  const pathOf = (issue: ValidationIssue) => `${context}${issue.instancePath}`;
  // A failed anyOf reports each branch's refusal at the same path, then its own: one message for all.
  const union_paths = new Set(issues.filter((issue) => issue.keyword === 'anyOf').map(pathOf));
  const described: { path: string; message: string }[] = [];
  for (const path of union_paths) {
    const branches = issues.filter((issue) => pathOf(issue) === path && issue.keyword !== 'anyOf');
    const constants = branches.filter((issue) => issue.keyword === 'const');
    const message =
      constants.length > 0 && constants.length === branches.length
        ? `must be one of: ${constants.map((issue) => String(issue.params.allowedValue)).join(', ')}`
        : [...new Set(branches.map(issueMessage))].join(', or ');
    described.push({ path, message });
  }
  for (const issue of issues) {
    const path = pathOf(issue);
    if (union_paths.has(path)) continue;
    if (issue.keyword === 'required') {
      described.push({ path: `${path}/${String(issue.params.missingProperty)}`, message: 'is required' });
    } else {
      described.push({ path, message: issueMessage(issue) });
    }
  }
  return described;
}

function issueMessage(issue: ValidationIssue): string {
  const params = issue.params as Record<string, unknown>;
  switch (issue.keyword) {
    case 'additionalProperties': {
      const allowed = Object.keys((issue.parentSchema?.properties as object | undefined) ?? {});
      const fix = allowed.length > 0 ? `allowed: ${allowed.join(', ')}` : 'this takes no fields';
      // The name is the client's: echoed in part only, a key may be 64 KiB long.
      return `has an unknown field "${String(params.additionalProperty).slice(0, 100)}" (${fix})`;
    }
    case 'enum':
      return `must be one of: ${(params.allowedValues as unknown[]).map(String).join(', ')}`;
    case 'const':
      return `must be ${JSON.stringify(params.allowedValue)}`;
    case 'pattern':
      if (params.pattern === TEXT_PATTERN)
        return 'must not contain NUL or an unpaired UTF-16 surrogate (\\ud800-\\udfff)';
      return typeof issue.parentSchema?.description === 'string'
        ? `must be ${issue.parentSchema.description}`
        : `must match ${String(params.pattern)}`;
    case 'not': {
      const refused = issue.schema as { const?: unknown; enum?: unknown[] } | undefined;
      if (refused?.const !== undefined) return `must not be ${JSON.stringify(refused.const)}`;
      if (refused?.enum !== undefined)
        return `must not be ${refused.enum.map((value) => JSON.stringify(value)).join(' or ')}`;
      return 'must be a JSON object';
    }
    case 'type':
      if (params.type === 'integer') return 'must be an integer';
      return params.type === 'null' ? 'must be null' : `must be of type ${String(params.type)}`;
    default:
      return issue.message ?? `is invalid (${issue.keyword})`;
  }
}
