// Request and response schemas: they validate, serialise and document (OpenAPI) every route.
import { type Static, type TSchema, Type } from 'typebox';
import { DROP_PHASE, TICKET_STATUSES } from '../core/drops.ts';
import { ERROR_STATUS, type ErrorCode } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';
import { ORDER_STATUSES } from '../core/types.ts';

/** The largest integer both stores hold exactly (bigint columns, read back as JavaScript numbers). */
export const INTEGER_MAX = Number.MAX_SAFE_INTEGER;

/**
 * A string that is one of `values`, as one `enum` (not a union of consts): a refusal then lists the
 * allowed values once, and the document shows a plain enum.
 */
export const OneOf = <const T extends readonly string[]>(values: T, options: Record<string, unknown> = {}) =>
  Type.Unsafe<T[number]>({ type: 'string', enum: [...values], ...options });

export const OrderStatus = OneOf(ORDER_STATUSES);

/**
 * Free text from a client: any character but NUL and unpaired UTF-16 surrogates (`"\ud800"` in
 * JSON). PostgreSQL cannot keep either in text or json (answered 500 there) and SQLite mangles a lone
 * surrogate into U+FFFD, so both stores refuse them alike. Ajv compiles patterns with the `u` flag,
 * where a well-formed pair is one code point outside the class and a lone surrogate is inside it.
 */
export const TEXT_PATTERN = '^[^\\u0000\\uD800-\\uDFFF]*$';
export const Text = (options: Parameters<typeof Type.String>[0] = {}) =>
  Type.String({ ...options, pattern: TEXT_PATTERN });

function withoutId(schema: TSchema): Record<string, unknown> {
  const { $id: _id, ...rest } = schema as Record<string, unknown>;
  return rest;
}

/** A copy of `schema` with a description (response descriptions in the document), same static type. */
export const described = <T extends TSchema>(schema: T, description: string) =>
  Type.Unsafe<Static<T>>({ ...withoutId(schema), description });

/** Path segments every URL resolver removes. */
export const DOT_SEGMENTS = ['.', '..'];

/** An id that is a path segment (a SKU's, a drop's): 1..64 of [A-Za-z0-9._-], never a dot segment. */
const PathId = (example: string) =>
  Type.String({
    pattern: LIMITS.sku_id_pattern,
    minLength: 1,
    maxLength: LIMITS.sku_id_length_max,
    // A client resolves /v1/skus/./ledger to /v1/skus/ledger: such ids could never be addressed.
    not: { enum: DOT_SEGMENTS },
    description: '1..64 of [A-Za-z0-9._-], but not . or ..',
    examples: [example],
  });

export const SkuId = PathId('sneaker-42');
export const OrderId = Text({
  minLength: 1,
  maxLength: 64,
  examples: ['0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80'],
});
export const Quantity = Type.Integer({ minimum: LIMITS.quantity_min, maximum: LIMITS.quantity_max });
/** A bucket or a count the stores keep: never negative, never past what they hold exactly. */
const Count = Type.Integer({ minimum: 0, maximum: INTEGER_MAX });
const Timestamp = Type.String({ format: 'date-time' });

export const Sku = Type.Object(
  {
    sku: SkuId,
    name: Type.String(),
    available: Count,
    on_hold: Count,
    sold: Count,
    max_per_customer: Type.Union([
      Type.Integer({ minimum: 1, maximum: LIMITS.max_per_customer_max }),
      Type.Null(),
    ]),
    low_stock_threshold: Type.Union([
      Type.Integer({ minimum: 0, maximum: LIMITS.low_stock_threshold_max }),
      Type.Null(),
    ]),
    archived: Type.Boolean(),
    version: Type.Integer({
      minimum: 0,
      maximum: INTEGER_MAX,
      description: 'grows with every movement and field change; expected_version compares with it',
    }),
    updated_at: Timestamp,
  },
  {
    $id: 'Sku',
    examples: [
      {
        sku: 'sneaker-42',
        name: 'Sneaker size 42',
        available: 98,
        on_hold: 2,
        sold: 0,
        max_per_customer: 2,
        low_stock_threshold: 10,
        archived: false,
        version: 3,
        updated_at: '2026-12-12T00:00:03.000Z',
      },
    ],
  },
);

export const OrderLine = Type.Object({ sku: SkuId, quantity: Quantity }, { additionalProperties: false });

export const Order = Type.Object(
  {
    id: Type.String(),
    customer_id: Type.String(),
    status: OrderStatus,
    lines: Type.Array(Type.Object({ sku: SkuId, quantity: Quantity }), {
      minItems: 1,
      maxItems: LIMITS.lines_per_order_max,
    }),
    created_at: Timestamp,
    expires_at: Timestamp,
    extensions: Type.Integer({ minimum: 0, description: 'how many times the deadline was extended' }),
    paid_at: Type.Optional(Timestamp),
    payment_id: Type.Optional(Type.String()),
    late: Type.Optional(Type.Boolean()),
    sold_lines: Type.Optional(
      Type.Array(Type.Object({ sku: SkuId, quantity: Quantity }), {
        description: 'once paid: the units sold per SKU (a partial capture sells part of the lines)',
      }),
    ),
    released_lines: Type.Optional(
      Type.Array(Type.Object({ sku: SkuId, quantity: Quantity }), {
        description: 'once paid: the units of the lines not sold, returned to available',
      }),
    ),
    returns: Type.Array(
      Type.Object({
        at: Timestamp,
        lines: Type.Array(Type.Object({ sku: SkuId, quantity: Quantity })),
        restock: Type.Boolean({ description: 'true: back to available; false: written off' }),
        reason: Type.Union([Type.String(), Type.Null()]),
      }),
      { maxItems: LIMITS.order_returns_max, description: 'the returns of a paid order, oldest first' },
    ),
  },
  {
    $id: 'Order',
    examples: [
      {
        id: '0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80',
        customer_id: 'cust-1',
        status: 'pending_payment',
        lines: [{ sku: 'sneaker-42', quantity: 2 }],
        created_at: '2026-12-12T00:00:03.000Z',
        expires_at: '2026-12-12T00:15:03.000Z',
        extensions: 0,
        returns: [],
      },
    ],
  },
);

export const LedgerEntry = Type.Object({
  sku: SkuId,
  seq: Type.Integer({ minimum: 1, maximum: INTEGER_MAX }),
  at: Timestamp,
  kind: Type.String(),
  order_id: Type.Union([Type.String(), Type.Null()]),
  delta_available: Type.Integer({ minimum: -INTEGER_MAX, maximum: INTEGER_MAX }),
  delta_on_hold: Type.Integer({ minimum: -INTEGER_MAX, maximum: INTEGER_MAX }),
  delta_sold: Type.Integer({ minimum: -INTEGER_MAX, maximum: INTEGER_MAX }),
  available_after: Count,
  on_hold_after: Count,
  sold_after: Count,
  reason: Type.Union([Type.String(), Type.Null()]),
});

/** The movements of one order: every entry, no pages (there are at most a few hundred). */
export const OrderLedger = Type.Object({
  items: Type.Array(LedgerEntry, { maxItems: LIMITS.order_ledger_entries_max }),
});

/** What each error code means and a real answer carrying it: the document's examples, per status. */
export const ERROR_EXAMPLES: Record<ErrorCode, { when: string; message: string; details?: unknown }> = {
  invalid_request: {
    when: 'the request does not match the schema; the message names the field and the fix',
    message: 'body/lines/0/quantity must be <= 1000000',
    details: [{ path: 'body/lines/0/quantity', message: 'must be <= 1000000' }],
  },
  unauthorized: {
    when: 'no API key, or an unknown or revoked one',
    message: 'send an API key: Authorization: Bearer <key>',
  },
  forbidden: {
    when: "the key's scope does not allow this operation",
    message: 'a read key may not call this route',
  },
  not_found: {
    when: 'no such resource',
    message: 'webhook endpoint 0193a6f0 does not exist',
    details: { id: '0193a6f0' },
  },
  sku_not_found: {
    when: 'a SKU named in the request does not exist',
    message: 'sku sneaker-43 does not exist',
    details: { skus: ['sneaker-43'] },
  },
  order_not_found: {
    when: 'the order does not exist (or belongs to another checkout key)',
    message: 'order 0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80 does not exist',
    details: { order_id: '0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80' },
  },
  sku_exists: {
    when: 'a SKU with this id exists',
    message: 'sku sneaker-42 already exists',
    details: { sku: 'sneaker-42' },
  },
  insufficient_stock: {
    when: 'not enough available for a line; details name each short line',
    message: 'not enough stock for every line',
    details: { lines: [{ sku: 'sneaker-42', requested: 3, available: 1 }] },
  },
  version_conflict: {
    when: "expected_available differs from available, or expected_version from the SKU's version (compare-and-set)",
    message: 'available is 97, not the expected 98',
    details: { sku: 'sneaker-42', available: 97, expected_available: 98 },
  },
  limit_exceeded: {
    when: 'over a limit: max_per_customer for a SKU, or the number of webhook endpoints',
    message: 'the order exceeds the per-customer limit of a sku',
  },
  order_expired: {
    when: 'the hold expired and its stock is gone: refund the payment',
    message: 'the order expired and its stock is no longer available: refund',
    details: { order_id: '0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80' },
  },
  order_cancelled: { when: 'the order was cancelled', message: 'the order was cancelled' },
  order_paid: {
    when: 'the order is paid and can no longer be cancelled',
    message: 'a paid order cannot be cancelled',
  },
  already_paid: {
    when: 'the order was paid with another payment_id',
    message: 'the order was paid with another payment_id',
  },
  extension_limit: {
    when: 'the extension would pass HOLD_EXTENSIONS_MAX extensions or created_at + HOLD_SECONDS_TOTAL_MAX',
    message: 'the order was extended 3 times, the most allowed',
    details: {
      order_id: '0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80',
      extensions: 3,
      extensions_max: 3,
      latest_expires_at: '2026-12-12T01:00:03.000Z',
    },
  },
  capture_exceeds_hold: {
    when: 'a payment line captures more than the order holds of its SKU',
    message: 'the payment captures more than the order holds',
    details: { lines: [{ sku: 'sneaker-42', requested: 3, held: 2 }] },
  },
  return_exceeds_sold: {
    when: 'a return line gives back more than was sold and not yet returned',
    message: 'a line returns more than was sold and not yet returned',
    details: { lines: [{ sku: 'sneaker-42', requested: 2, sold: 2, returned: 1 }] },
  },
  drop_not_found: {
    when: 'the drop does not exist',
    message: 'drop console-1212 does not exist',
    details: { drop_id: 'console-1212' },
  },
  ticket_not_found: {
    when: 'the drop has no such ticket',
    message: 'drop console-1212 has no ticket tkt_3n5x',
    details: { drop_id: 'console-1212', ticket_id: 'tkt_3n5x' },
  },
  drop_exists: {
    when: 'a drop with this id exists',
    message: 'drop console-1212 exists',
    details: { drop_id: 'console-1212' },
  },
  sku_in_drop: {
    when: 'a SKU of the new drop is in another drop that is open or running',
    message: 'a sku is in another drop that is open or running',
    details: { skus: [{ sku: 'console', drop_id: 'console-1111' }] },
  },
  drop_not_started: {
    when: 'a checkout holds a SKU of a drop before its starts_at: take a ticket and wait for admission',
    message: 'drop console-1212 starts at 2026-12-12T00:00:00.000Z: take a ticket and wait for admission',
    details: { drop_id: 'console-1212', starts_at: '2026-12-12T00:00:00.000Z' },
  },
  admission_required: {
    when: "a checkout holds a SKU of a running drop without the customer's admission_token (none, a wrong one, another customer's, or one already used)",
    message: "drop console-1212 is running: a checkout of its skus needs the customer's admission_token",
    details: { drop_id: 'console-1212', skus: ['console'] },
  },
  admission_expired: {
    when: "the customer's admission lapsed (admission_seconds passed unused)",
    message: 'the admission to drop console-1212 lapsed',
    details: { drop_id: 'console-1212', admission_expires_at: '2026-12-12T00:05:00.000Z' },
  },
  drop_closed: {
    when: 'a ticket is asked of a drop that is sold out or over',
    message: 'drop console-1212 is sold_out: it takes no new tickets',
    details: { drop_id: 'console-1212', status: 'sold_out' },
  },
  order_not_paid: {
    when: 'only a paid order takes returns',
    message: 'only a paid order takes returns; this one is pending_payment',
    details: { order_id: '0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80', status: 'pending_payment' },
  },
  idempotency_key_in_use: {
    when: 'a request with this Idempotency-Key is still running: retry',
    message: 'a request with this Idempotency-Key is still running; retry',
  },
  method_not_allowed: {
    when: 'the path exists but not with this method; Allow lists the methods',
    message: 'TRACE is not allowed on /v1/skus; allowed: GET, HEAD, POST',
  },
  payload_too_large: { when: 'the body is over 64 KiB', message: 'Request body is too large' },
  unsupported_media_type: {
    when: 'the body is not JSON',
    message: 'the body must be JSON: send Content-Type: application/json (got text/plain)',
  },
  idempotency_key_reused: {
    when: 'this Idempotency-Key was used with another request',
    message: 'this Idempotency-Key was used with another request; use a new key for a new request',
  },
  delivery_not_failed: {
    when: 'only a failed webhook delivery can be redelivered',
    message: 'webhook delivery 0193a6f0 is pending: only a failed delivery is redelivered',
    details: { delivery_id: '0193a6f0', status: 'pending' },
  },
  sku_archived: {
    when: 'a SKU of the request is archived and takes no new holds',
    message: 'sku sneaker-42 is archived: it takes no new holds',
    details: { skus: ['sneaker-42'] },
  },
  sku_in_use: {
    when: 'the SKU has a history (an order, a movement or a change): archive it instead',
    message: 'sku sneaker-42 has a history (3 ledger entries): archive it instead',
    details: { sku: 'sneaker-42', version: 3 },
  },
  count_below_holds: {
    when: 'the count is below the units on hold, which would lose holds',
    message: 'the count 1 is below the 2 units on hold',
    details: { sku: 'sneaker-42', unsold: 1, on_hold: 2 },
  },
  webhook_target_forbidden: {
    when: 'the webhook url resolves to a private or loopback address',
    message: 'url: 10.0.0.5 is a private address',
  },
  rate_limited: {
    when: 'too many requests: wait Retry-After seconds',
    message: 'too many requests (per key); retry in 1 s',
    details: { limit: 'per key', retry_after_seconds: 1 },
  },
  internal_error: {
    when: 'a bug: the request was logged',
    message: 'the server failed to answer this request; it was logged',
  },
  overloaded: {
    when: 'the server sheds load: retry after Retry-After seconds',
    message: 'too many writes are waiting; retry shortly',
    details: { retry_after_seconds: 1 },
  },
  not_ready: {
    when: 'the database is not reachable or not migrated',
    message: 'the database is not reachable or not migrated',
  },
  storage_unavailable: {
    when: 'the database went away: retry after Retry-After seconds',
    message: 'the database is unavailable; retry shortly',
    details: { retry_after_seconds: 1 },
  },
};

/** The error answer of one status, limited to `codes` (all of that status), with an example of each. */
export function errorSchema(codes: readonly ErrorCode[]) {
  const examples: Record<string, { summary: string; value: unknown }> = {};
  for (const code of codes) {
    const { when, message, details } = ERROR_EXAMPLES[code];
    examples[code] = {
      summary: when,
      value: { error: details === undefined ? { code, message } : { code, message, details } },
    };
  }
  return Type.Object(
    {
      error: Type.Object({
        code: OneOf(codes, { description: 'stable error code' }),
        message: Type.String({ description: 'what went wrong and how to fix it, for people' }),
        details: Type.Optional(Type.Unknown()),
      }),
    },
    {
      description: codes.map((code) => `\`${code}\`: ${ERROR_EXAMPLES[code].when}`).join('; '),
      'x-examples': examples,
    },
  );
}

export type ErrorSchema = ReturnType<typeof errorSchema>;

/** The error answers a route documents, by code, grouped by status. */
export function errorResponses(...codes: ErrorCode[]): Record<number, ErrorSchema> {
  const by_status = new Map<number, ErrorCode[]>();
  for (const code of codes) {
    const status = ERROR_STATUS[code];
    by_status.set(status, [...(by_status.get(status) ?? []), code]);
  }
  return Object.fromEntries([...by_status].map(([status, group]) => [status, errorSchema(group)]));
}

export const Page = <T extends ReturnType<typeof Type.Object>>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: LIMITS.page_size_max, default: LIMITS.page_size_default }),
  ),
  cursor: Type.Optional(
    Text({ minLength: 1, maxLength: 200, description: 'next_cursor of the previous page, as it was given' }),
  ),
};

/**
 * A route that takes no body: none, or `{}`. Anything else is refused like an unknown field anywhere
 * (a body sent to cancel was silently ignored). No `type`, because "no body" reaches the validator
 * as undefined (or null); the `not` refuses every other JSON value but an object.
 */
export const NO_BODY_DESCRIPTION = 'no body (or an empty JSON object)';
export const NoBody = Type.Unsafe<Record<string, never> | undefined>({
  description: NO_BODY_DESCRIPTION,
  properties: {},
  additionalProperties: false,
  not: { type: ['string', 'number', 'boolean', 'array'] },
});

/** The query string of a route that takes no query parameters. */
export const NoQuery = Type.Object({}, { additionalProperties: false });

export const CreateSkuBody = Type.Object(
  {
    sku: SkuId,
    name: Type.Optional(Text({ maxLength: LIMITS.name_length_max, description: 'the sku id when absent' })),
    available: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.initial_available_max, default: 0 })),
    max_per_customer: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.max_per_customer_max }), Type.Null()], {
        description: 'units one customer may hold or buy of this SKU; null: no limit',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ sku: 'sneaker-42', name: 'Sneaker size 42', available: 100, max_per_customer: 2 }],
  },
);

export const AdjustmentBody = Type.Object(
  {
    delta: Type.Integer({
      minimum: -LIMITS.adjustment_delta_max,
      maximum: LIMITS.adjustment_delta_max,
      not: { const: 0 },
      description: 'units added (positive) or removed (negative) from available; never 0',
    }),
    reason: Type.Optional(Text({ maxLength: LIMITS.reason_length_max })),
    expected_available: Type.Optional(
      Type.Integer({
        minimum: 0,
        maximum: INTEGER_MAX,
        description: 'compare-and-set: refused with version_conflict unless equal',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ delta: 50, reason: 'delivery', expected_available: 98 }],
  },
);

const ExpectedVersion = Type.Integer({
  minimum: 0,
  maximum: INTEGER_MAX,
  description: "compare-and-set: refused with version_conflict unless equal to the SKU's version",
});

/** The fields a PATCH of a SKU may change. */
const SKU_FIELDS = {
  name: Text({ maxLength: LIMITS.name_length_max }),
  max_per_customer: Type.Union(
    [Type.Integer({ minimum: 1, maximum: LIMITS.max_per_customer_max }), Type.Null()],
    { description: 'units one customer may hold or buy of this SKU; null clears the limit' },
  ),
  low_stock_threshold: Type.Union(
    [Type.Integer({ minimum: 0, maximum: LIMITS.low_stock_threshold_max }), Type.Null()],
    { description: 'sku.low_stock fires when available falls to or below it; null clears it' },
  ),
  archived: Type.Boolean({ description: 'an archived SKU takes no new holds; its existing holds live on' }),
};
type SkuField = keyof typeof SKU_FIELDS;

/** The PATCH body that names `field` (and any others): one branch of UpdateSkuBody. */
function updateNaming<F extends SkuField>(field: F) {
  const named = { [field]: SKU_FIELDS[field] } as Pick<typeof SKU_FIELDS, F>;
  return Type.Object(
    {
      name: Type.Optional(SKU_FIELDS.name),
      max_per_customer: Type.Optional(SKU_FIELDS.max_per_customer),
      low_stock_threshold: Type.Optional(SKU_FIELDS.low_stock_threshold),
      archived: Type.Optional(SKU_FIELDS.archived),
      expected_version: Type.Optional(ExpectedVersion),
      ...named,
    },
    { additionalProperties: false },
  );
}

/** At least one field to change (an empty PATCH is refused); absent fields stay as they are. */
export const UpdateSkuBody = Type.Union(
  [
    updateNaming('name'),
    updateNaming('max_per_customer'),
    updateNaming('low_stock_threshold'),
    updateNaming('archived'),
  ],
  {
    description: 'the fields to change, at least one of them; absent fields stay as they are',
    examples: [{ low_stock_threshold: 10, expected_version: 3 }],
  },
);

export const CountBody = Type.Object(
  {
    unsold: Type.Integer({
      minimum: 0,
      maximum: LIMITS.count_unsold_max,
      description: 'units the ERP counts as not yet sold: available becomes unsold - on_hold',
    }),
    expected_version: Type.Optional(ExpectedVersion),
    reason: Type.Optional(Text({ maxLength: LIMITS.reason_length_max })),
  },
  { additionalProperties: false, examples: [{ unsold: 120, reason: 'stocktake', expected_version: 3 }] },
);

export const CheckoutBody = Type.Object(
  {
    customer_id: Text({ minLength: 1, maxLength: LIMITS.customer_id_length_max, examples: ['cust-1'] }),
    lines: Type.Array(OrderLine, { minItems: 1, maxItems: LIMITS.lines_per_order_max }),
    hold_seconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.hold_seconds_min,
        maximum: LIMITS.hold_seconds_max,
        description: `how long the stock is held for payment; ${LIMITS.hold_seconds_default} when absent`,
        examples: [900],
      }),
    ),
    admission_token: Type.Optional(
      Text({
        minLength: 1,
        maxLength: LIMITS.admission_token_length_max,
        description:
          "the customer's admission to a running drop of one of the lines' SKUs (GET /v1/drops/{id}/tickets/{ticket} once admitted)",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ customer_id: 'cust-1', lines: [{ sku: 'sneaker-42', quantity: 2 }], hold_seconds: 900 }],
  },
);

export const PaymentBody = Type.Object(
  {
    payment_id: Text({ minLength: 1, maxLength: LIMITS.payment_id_length_max }),
    lines: Type.Optional(
      Type.Array(OrderLine, {
        minItems: 1,
        maxItems: LIMITS.lines_per_order_max,
        description: 'a partial capture: the units sold (each at most what is held); the rest is released',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      { payment_id: 'pay-123' },
      { payment_id: 'pay-124', lines: [{ sku: 'sneaker-42', quantity: 1 }] },
    ],
  },
);

const Reason = Text({ maxLength: LIMITS.reason_length_max });

export const ExtensionBody = Type.Object(
  {
    seconds: Type.Integer({
      minimum: LIMITS.extension_seconds_min,
      maximum: LIMITS.extension_seconds_max,
      description: 'how much later the deadline falls, from the current deadline',
    }),
    reason: Type.Optional(Reason),
  },
  { additionalProperties: false, examples: [{ seconds: 300, reason: 'payment provider is slow' }] },
);

export const OrderChangeBody = Type.Object(
  {
    lines: Type.Array(OrderLine, {
      minItems: 1,
      maxItems: LIMITS.lines_per_order_max,
      description: 'the new full set of lines (to remove every line, cancel the order)',
    }),
  },
  { additionalProperties: false, examples: [{ lines: [{ sku: 'sneaker-42', quantity: 1 }] }] },
);

export const ReturnBody = Type.Object(
  {
    lines: Type.Array(OrderLine, { minItems: 1, maxItems: LIMITS.lines_per_order_max }),
    restock: Type.Boolean({ description: 'true: sold -> available; false: written off (leaves the stock)' }),
    reason: Type.Optional(Reason),
  },
  {
    additionalProperties: false,
    examples: [{ lines: [{ sku: 'sneaker-42', quantity: 1 }], restock: true, reason: 'wrong size' }],
  },
);

export const OrderListQuery = Type.Object(
  {
    status: Type.Optional(OrderStatus),
    sku: Type.Optional(SkuId),
    customer_id: Type.Optional(Text({ minLength: 1, maxLength: LIMITS.customer_id_length_max })),
    ...PageQuery,
  },
  { additionalProperties: false },
);

export const IdempotencyHeaders = Type.Object({
  'idempotency-key': Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: LIMITS.idempotency_key_length_max,
      pattern: '^[\\x20-\\x7E]+$',
      description: 'a replay with the same key and body returns the first answer; kept 24 hours',
      examples: ['cart-7f3a'],
    }),
  ),
});

// Drops (issue 24).

const NullableTimestamp = Type.Union([Timestamp, Type.Null()]);
const NullableCount = Type.Union([Count, Type.Null()]);

export const DropId = PathId('console-1212');

export const TicketId = Text({
  minLength: 1,
  maxLength: 64,
  examples: ['tkt_Jx3v9Q2mS0a1b2c3d4e5fA'],
});

export const CreateDropBody = Type.Object(
  {
    id: DropId,
    skus: Type.Array(SkuId, { minItems: 1, maxItems: LIMITS.drop_skus_max, uniqueItems: true }),
    starts_at: Text({ format: 'date-time', maxLength: 64, description: 'when admission begins' }),
    ends_at: Type.Optional(
      Type.Union([Text({ format: 'date-time', maxLength: 64 }), Type.Null()], {
        description: 'past it the SKUs sell without admission; absent or null: until sold out',
      }),
    ),
    admission_per_second: Type.Optional(
      Type.Integer({
        minimum: LIMITS.admission_per_second_min,
        maximum: LIMITS.admission_per_second_max,
        description: `tickets admitted per second, all processes together; ${LIMITS.admission_per_second_default} when absent`,
      }),
    ),
    admission_seconds: Type.Optional(
      Type.Integer({
        minimum: LIMITS.admission_seconds_min,
        maximum: LIMITS.admission_seconds_max,
        description: `how long an admission may be used; ${LIMITS.admission_seconds_default} when absent`,
      }),
    ),
    max_per_customer: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.max_per_customer_max }), Type.Null()], {
        description: "units of the drop's SKUs one customer may hold or buy, all SKUs together",
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [
      {
        id: 'console-1212',
        skus: ['console'],
        starts_at: '2026-12-12T00:00:00.000Z',
        admission_per_second: 50,
        admission_seconds: 300,
        max_per_customer: 1,
      },
    ],
  },
);

export const Drop = Type.Object(
  {
    id: DropId,
    skus: Type.Array(SkuId),
    status: OneOf(Object.values(DROP_PHASE), {
      description: 'open (before starts_at), running, sold_out, or over (past ends_at)',
    }),
    starts_at: Timestamp,
    ends_at: NullableTimestamp,
    admission_per_second: Type.Integer({ minimum: 1 }),
    admission_seconds: Type.Integer({ minimum: 1 }),
    max_per_customer: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()]),
    created_at: Timestamp,
    sold_out_at: NullableTimestamp,
    admitted_through: Type.Integer({ minimum: 0, description: 'every position up to it has had its turn' }),
    counts: Type.Object({
      tickets: Count,
      waiting: Count,
      admitted: Count,
      used: Count,
      expired: Count,
      sold_out: Count,
    }),
    admitted_last_10s: Count,
    time_to_admission_ms: Type.Object(
      { p50: NullableCount, p99: NullableCount },
      { description: 'from joining (or the start, for the pre-queue) to admission' },
    ),
  },
  { $id: 'Drop' },
);

export const Ticket = Type.Object(
  {
    id: TicketId,
    drop_id: DropId,
    drop_status: OneOf(Object.values(DROP_PHASE), {
      description: "the drop's status: a waiting ticket of a drop that is over will not be admitted",
    }),
    customer_id: Type.String(),
    status: OneOf(TICKET_STATUSES),
    position: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description: 'null until the start, when the tickets taken before it are put in a random order',
    }),
    ahead: Type.Union([Count, Type.Null()], { description: 'positions before this one not yet admitted' }),
    estimated_wait_seconds: Type.Union([Count, Type.Null()], {
      description: 'at the admission rate, without pauses; null unless waiting with a position',
    }),
    joined_at: Timestamp,
    admitted_at: NullableTimestamp,
    admission_token: Type.Union([Type.String(), Type.Null()], {
      description: 'shown while admitted: send it as admission_token with the checkout',
    }),
    admission_expires_at: NullableTimestamp,
    order_id: Type.Union([Type.String(), Type.Null()]),
    poll_after_seconds: Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], {
      description:
        'when a waiting page should ask again (2..30 s, sooner as the turn nears); null once the status is final',
    }),
  },
  { $id: 'Ticket' },
);

export const JoinDropBody = Type.Object(
  { customer_id: Text({ minLength: 1, maxLength: LIMITS.customer_id_length_max, examples: ['cust-1'] }) },
  { additionalProperties: false },
);
