// Order routes: checkout (hold every line or none), list, read, pay (all or part), cancel, an order's
// movements, and the rest of a hold's life (issue 23): extension, change of lines, returns.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { orderNotFound } from '../../core/errors.ts';
import { LIMITS } from '../../core/limits.ts';
import { ledgerEntryView, orderView } from '../../core/views.ts';
import { newId } from '../../ids.ts';
import type { AppContext } from '../context.ts';
import { decodeCursor, nextCursor } from '../cursor.ts';
import { sendResult } from '../errors.ts';
import { idempotencyOf } from '../idempotency.ts';
import {
  CheckoutBody,
  described,
  ExtensionBody,
  errorResponses,
  IdempotencyHeaders,
  NoBody,
  Order,
  OrderChangeBody,
  OrderId,
  OrderLedger,
  OrderListQuery,
  Page,
  PaymentBody,
  ReturnBody,
} from '../schemas.ts';

const OrderParams = Type.Object({ id: OrderId });

const checkoutRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue, default_hold_seconds }) => {
  app.post(
    '/v1/orders',
    {
      config: { access: { scopes: ['checkout'] } },
      schema: {
        tags: ['orders'],
        summary: 'Check out: hold every line (all or nothing) until the payment deadline',
        headers: IdempotencyHeaders,
        body: CheckoutBody,
        response: {
          201: described(Order, 'Held: the order, pending payment until expires_at'),
          ...errorResponses(
            'insufficient_stock',
            'limit_exceeded',
            'sku_not_found',
            'admission_required',
            'admission_expired',
            'drop_not_started',
            'overloaded',
          ),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: {
          kind: 'checkout',
          order_id: newId(),
          customer_id: request.body.customer_id,
          lines: request.body.lines,
          hold_seconds: request.body.hold_seconds ?? default_hold_seconds,
          api_key_id: request.api_key?.id ?? null,
          admission_token: request.body.admission_token ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 201);
    },
  );
};

const listOrdersRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/orders',
    {
      config: { access: { scopes: ['read'] } },
      schema: {
        tags: ['orders'],
        summary: 'List orders, newest first',
        querystring: OrderListQuery,
        response: {
          200: described(Page(Order), 'A page of orders, newest first; next_cursor reads the next'),
        },
      },
    },
    async (request) => {
      const { status, sku, customer_id, cursor } = request.query;
      const limit = request.query.limit ?? LIMITS.page_size_default;
      const orders = await store.listOrders({
        status,
        sku,
        customer_id,
        limit,
        before_id: decodeCursor(cursor, 'string'),
      });
      return { items: orders.map(orderView), next_cursor: nextCursor(orders, limit, (order) => order.id) };
    },
  );
};

const getOrderRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/orders/:id',
    {
      config: { access: { scopes: ['read', 'checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary: 'Read an order',
        params: OrderParams,
        response: { 200: described(Order, 'The order'), ...errorResponses('order_not_found') },
      },
    },
    async (request) => {
      const order = await store.getOrder(request.params.id);
      if (!order) throw orderNotFound(request.params.id);
      return orderView(order);
    },
  );
};

const orderLedgerRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/orders/:id/ledger',
    {
      config: { access: { scopes: ['read', 'checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary: `Every stock movement of the order, all its SKUs, by sku then seq (not paged: at most ${LIMITS.order_ledger_entries_max})`,
        params: OrderParams,
        response: {
          200: described(OrderLedger, "The order's movements, by sku then seq"),
          ...errorResponses('order_not_found'),
        },
      },
    },
    async (request) => {
      const { id } = request.params;
      if (!(await store.getOrder(id))) throw orderNotFound(id);
      const entries = await store.orderLedger(id);
      return { items: entries.map(ledgerEntryView) };
    },
  );
};

const payRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/orders/:id/payment',
    {
      config: { access: { scopes: ['checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary:
          'Record the payment: on_hold -> sold (or a late payment that re-acquires the stock); with lines, a partial capture that releases the rest',
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: PaymentBody,
        response: {
          200: described(Order, 'Paid: the order (late: true when a late payment re-acquired the stock)'),
          ...errorResponses(
            'invalid_request',
            'order_not_found',
            'order_expired',
            'order_cancelled',
            'already_paid',
            'capture_exceeds_hold',
            'limit_exceeded',
            'overloaded',
          ),
        },
      },
    },
    async (request, reply) => {
      const { payment_id, lines } = request.body;
      const result = await queue.submit({
        command: { kind: 'pay', order_id: request.params.id, payment_id, lines: lines ?? null },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const cancelRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/orders/:id/cancel',
    {
      config: { access: { scopes: ['checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary: 'Cancel a pending order: its holds return to available',
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: NoBody,
        response: {
          200: described(Order, 'Cancelled: the order; its holds returned to available'),
          ...errorResponses('order_not_found', 'order_paid', 'order_expired', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: { kind: 'cancel', order_id: request.params.id },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const extensionRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, options) => {
  const extensions_max = options.hold_extensions_max ?? LIMITS.hold_extensions_max_default;
  const hold_seconds_total_max = options.hold_seconds_total_max ?? LIMITS.hold_seconds_total_max_default;
  app.post(
    '/v1/orders/:id/extension',
    {
      config: { access: { scopes: ['checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary: `Extend a held order's deadline by seconds (at most ${extensions_max} times, never past created_at + ${hold_seconds_total_max} s)`,
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: ExtensionBody,
        response: {
          200: described(Order, 'Extended: the order with its later expires_at'),
          ...errorResponses(
            'order_not_found',
            'extension_limit',
            'order_expired',
            'order_paid',
            'order_cancelled',
            'overloaded',
          ),
        },
      },
    },
    async (request, reply) => {
      const result = await options.queue.submit({
        command: {
          kind: 'extend',
          order_id: request.params.id,
          seconds: request.body.seconds,
          reason: request.body.reason ?? null,
          extensions_max,
          hold_seconds_total_max,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const changeRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.patch(
    '/v1/orders/:id',
    {
      config: { access: { scopes: ['checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary:
          "Change a held order's lines: increases held all or none, decreases released; the deadline stays",
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: OrderChangeBody,
        response: {
          200: described(Order, 'Changed: the order with its new lines'),
          ...errorResponses(
            'order_not_found',
            'sku_not_found',
            'insufficient_stock',
            'limit_exceeded',
            'order_expired',
            'order_paid',
            'order_cancelled',
            'overloaded',
          ),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: { kind: 'change_order', order_id: request.params.id, lines: request.body.lines },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const returnRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/orders/:id/returns',
    {
      config: { access: { scopes: ['checkout'], own_orders: true } },
      schema: {
        tags: ['orders'],
        summary: 'Return units of a paid order: restocked (sold -> available) or written off',
        params: OrderParams,
        headers: IdempotencyHeaders,
        body: ReturnBody,
        response: {
          201: described(Order, 'Returned: the order, its returns listed'),
          ...errorResponses(
            'order_not_found',
            'order_not_paid',
            'return_exceeds_sold',
            'limit_exceeded',
            'overloaded',
          ),
        },
      },
    },
    async (request, reply) => {
      const { lines, restock, reason } = request.body;
      const result = await queue.submit({
        command: { kind: 'return', order_id: request.params.id, lines, restock, reason: reason ?? null },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 201);
    },
  );
};

export const orderRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, options) => {
  // Called, not registered: the routes stay in this plugin's context, in the OpenAPI document's order.
  const routes = [
    checkoutRoute,
    listOrdersRoute,
    getOrderRoute,
    orderLedgerRoute,
    payRoute,
    cancelRoute,
    extensionRoute,
    changeRoute,
    returnRoute,
  ];
  for (const route of routes) await route(app, options);
};
