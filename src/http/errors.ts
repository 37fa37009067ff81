// The one map from failures to answers: every error leaves as {"error": {code, message, details?}}.
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { type ErrorBody, type ErrorCode, StockholdError } from '../core/errors.ts';
import { isStorageUnavailable, storageUnavailableError } from '../store/storage-faults.ts';
import type { CommandResult } from '../store/store.ts';

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
    const details = fastify_error.validation.map((issue) => ({
      path: `${fastify_error.validationContext ?? ''}${issue.instancePath}`,
      message: issue.message,
    }));
    return new StockholdError('invalid_request', fastify_error.message, details);
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
  const mapped = toStockholdError(error);
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
