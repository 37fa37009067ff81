// Request and response schemas: they validate, serialise and document (OpenAPI) every route.
import { Type } from 'typebox';
import { ERROR_STATUS } from '../core/errors.ts';
import { LIMITS } from '../core/limits.ts';

export const OrderStatus = Type.Union([
  Type.Literal('pending_payment'),
  Type.Literal('paid'),
  Type.Literal('cancelled'),
  Type.Literal('expired'),
]);

/**
 * Free text from a client: any character but NUL, which PostgreSQL cannot keep in text (a NUL in a
 * name or an id was answered 500 there, where SQLite stored it).
 */
export const Text = (options: Parameters<typeof Type.String>[0] = {}) =>
  Type.String({ ...options, pattern: '^[^\\u0000]*$' });

export const SkuId = Type.String({
  pattern: LIMITS.sku_id_pattern,
  minLength: 1,
  maxLength: LIMITS.sku_id_length_max,
  description: '1..64 of [A-Za-z0-9._-]',
  examples: ['tshirt-red-m'],
});
export const OrderId = Text({
  minLength: 1,
  maxLength: 64,
  examples: ['0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80'],
});
export const Quantity = Type.Integer({ minimum: LIMITS.quantity_min, maximum: LIMITS.quantity_max });
const Timestamp = Type.String({ format: 'date-time' });

export const Sku = Type.Object(
  {
    sku: Type.String(),
    name: Type.String(),
    available: Type.Integer(),
    on_hold: Type.Integer(),
    sold: Type.Integer(),
    max_per_customer: Type.Union([Type.Integer(), Type.Null()]),
    updated_at: Timestamp,
  },
  { $id: 'Sku' },
);

export const OrderLine = Type.Object({ sku: SkuId, quantity: Quantity }, { additionalProperties: false });

export const Order = Type.Object(
  {
    id: Type.String(),
    customer_id: Type.String(),
    status: OrderStatus,
    lines: Type.Array(Type.Object({ sku: Type.String(), quantity: Type.Integer() })),
    created_at: Timestamp,
    expires_at: Timestamp,
    paid_at: Type.Optional(Timestamp),
    payment_id: Type.Optional(Type.String()),
    late: Type.Optional(Type.Boolean()),
  },
  { $id: 'Order' },
);

export const LedgerEntry = Type.Object({
  sku: Type.String(),
  seq: Type.Integer(),
  at: Timestamp,
  kind: Type.String(),
  order_id: Type.Union([Type.String(), Type.Null()]),
  delta_available: Type.Integer(),
  delta_on_hold: Type.Integer(),
  delta_sold: Type.Integer(),
  available_after: Type.Integer(),
  on_hold_after: Type.Integer(),
  sold_after: Type.Integer(),
  reason: Type.Union([Type.String(), Type.Null()]),
});

/** The movements of one order: every entry, no pages (there are at most a few hundred). */
export const OrderLedger = Type.Object({
  items: Type.Array(LedgerEntry, { maxItems: LIMITS.order_ledger_entries_max }),
});

export const ErrorResponse = Type.Object(
  {
    error: Type.Object({
      code: Type.String({ description: 'stable error code', examples: ['insufficient_stock'] }),
      message: Type.String(),
      details: Type.Optional(Type.Unknown()),
    }),
  },
  { $id: 'Error' },
);

export const Page = <T extends ReturnType<typeof Type.Object>>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Type.Union([Type.String(), Type.Null()]) });

export const PageQuery = {
  limit: Type.Optional(
    Type.Integer({ minimum: 1, maximum: LIMITS.page_size_max, default: LIMITS.page_size_default }),
  ),
  cursor: Type.Optional(Text({ minLength: 1, maxLength: 200 })),
};

export const CreateSkuBody = Type.Object(
  {
    sku: SkuId,
    name: Type.Optional(Text({ maxLength: LIMITS.name_length_max })),
    available: Type.Optional(Type.Integer({ minimum: 0, maximum: LIMITS.initial_available_max, default: 0 })),
    max_per_customer: Type.Optional(
      Type.Union([Type.Integer({ minimum: 1, maximum: LIMITS.max_per_customer_max }), Type.Null()]),
    ),
  },
  { additionalProperties: false },
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
        description: 'compare-and-set: refused with version_conflict unless equal',
      }),
    ),
  },
  { additionalProperties: false },
);

export const CheckoutBody = Type.Object(
  {
    customer_id: Text({ minLength: 1, maxLength: LIMITS.customer_id_length_max }),
    lines: Type.Array(OrderLine, { minItems: 1, maxItems: LIMITS.lines_per_order_max }),
    hold_seconds: Type.Optional(
      Type.Integer({ minimum: LIMITS.hold_seconds_min, maximum: LIMITS.hold_seconds_max }),
    ),
  },
  { additionalProperties: false },
);

export const PaymentBody = Type.Object(
  { payment_id: Text({ minLength: 1, maxLength: LIMITS.payment_id_length_max }) },
  { additionalProperties: false },
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
    }),
  ),
});

/** The error answers a route documents, by code. */
export function errorResponses(
  ...codes: (keyof typeof ERROR_STATUS)[]
): Record<number, typeof ErrorResponse> {
  const responses: Record<number, typeof ErrorResponse> = {};
  for (const code of ['invalid_request', ...codes] as const) responses[ERROR_STATUS[code]] = ErrorResponse;
  return responses;
}
