// Every error code of the API with its HTTP status: the one table the HTTP layer maps from.
export const ERROR_STATUS = {
  invalid_request: 400,
  unauthorized: 401,
  forbidden: 403,
  admission_required: 403,
  not_found: 404,
  sku_not_found: 404,
  order_not_found: 404,
  drop_not_found: 404,
  ticket_not_found: 404,
  method_not_allowed: 405,
  sku_exists: 409,
  insufficient_stock: 409,
  version_conflict: 409,
  limit_exceeded: 409,
  order_expired: 409,
  order_cancelled: 409,
  order_paid: 409,
  already_paid: 409,
  idempotency_key_in_use: 409,
  extension_limit: 409,
  capture_exceeds_hold: 409,
  return_exceeds_sold: 409,
  order_not_paid: 409,
  delivery_not_failed: 409,
  sku_archived: 409,
  sku_in_use: 409,
  count_below_holds: 409,
  drop_exists: 409,
  sku_in_drop: 409,
  drop_not_started: 409,
  admission_expired: 409,
  drop_closed: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  idempotency_key_reused: 422,
  webhook_target_forbidden: 422,
  rate_limited: 429,
  internal_error: 500,
  overloaded: 503,
  not_ready: 503,
  storage_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorBody {
  code: ErrorCode;
  message: string;
  details?: unknown;
}

/** A refusal the service answers on purpose; anything else thrown is a bug or an outage. */
export class StockholdError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'StockholdError';
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toBody(): ErrorBody {
    return this.details === undefined
      ? { code: this.code, message: this.message }
      : { code: this.code, message: this.message, details: this.details };
  }
}

// Refusals built in more than one layer: one factory each, so the message and details never drift.

/** An order that does not exist, or that the caller may not see (answered alike, ids never leak). */
export function orderNotFound(order_id: string): StockholdError {
  return new StockholdError('order_not_found', `order ${order_id} does not exist`, { order_id });
}

/** SKUs that do not exist, named in the message and listed in details. */
export function skuNotFound(skus: readonly string[]): StockholdError {
  const message =
    skus.length === 1 ? `sku ${skus[0]} does not exist` : `skus ${skus.join(', ')} do not exist`;
  return new StockholdError('sku_not_found', message, { skus: [...skus] });
}

/** SKUs that are archived and so take no new holds, named in the message and listed in details. */
export function skuArchived(skus: readonly string[]): StockholdError {
  const message =
    skus.length === 1
      ? `sku ${skus[0]} is archived: it takes no new holds`
      : `skus ${skus.join(', ')} are archived: they take no new holds`;
  return new StockholdError('sku_archived', message, { skus: [...skus] });
}

/** A compare-and-set on a SKU's version that found another version. */
export function skuVersionConflict(sku: string, version: number, expected_version: number): StockholdError {
  return new StockholdError(
    'version_conflict',
    `sku ${sku} is at version ${version}, not ${expected_version}`,
    {
      sku,
      version,
      expected_version,
    },
  );
}

/** Thrown when an invariant is broken: a bug to fix, never a condition to catch and carry on. */
export class InvariantViolation extends Error {
  constructor(message: string) {
    super(`invariant violated: ${message}`);
    this.name = 'InvariantViolation';
  }
}

export function assert(condition: unknown, message: string): asserts condition {
  if (!condition) throw new InvariantViolation(message);
}
