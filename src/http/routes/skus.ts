// SKU routes: create, list, read, change (PATCH), delete, adjust (restock or remove, optionally
// compare-and-set), count (an ERP's stocktake), ledger.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { skuNotFound } from '../../core/errors.ts';
import { LIMITS } from '../../core/limits.ts';
import { ledgerEntryView, skuView } from '../../core/views.ts';
import type { AppContext } from '../context.ts';
import { decodeCursor, nextCursor } from '../cursor.ts';
import { sendResult } from '../errors.ts';
import { idempotencyOf } from '../idempotency.ts';
import {
  AdjustmentBody,
  CountBody,
  CreateSkuBody,
  described,
  errorResponses,
  IdempotencyHeaders,
  LedgerEntry,
  NoBody,
  OneOf,
  Page,
  PageQuery,
  Sku,
  SkuId,
  UpdateSkuBody,
} from '../schemas.ts';

const SkuParams = Type.Object({ sku: SkuId });

const createSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/skus',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['skus'],
        summary: 'Create a SKU',
        headers: IdempotencyHeaders,
        body: CreateSkuBody,
        response: {
          201: described(Sku, 'Created: the SKU, with all its units available'),
          ...errorResponses('sku_exists', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const result = await queue.submit({
        command: {
          kind: 'create_sku',
          sku: body.sku,
          name: body.name ?? body.sku,
          available: body.available ?? 0,
          max_per_customer: body.max_per_customer ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 201);
    },
  );
};

const listSkusRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/skus',
    {
      config: { access: { scopes: ['read', 'checkout'] } },
      schema: {
        tags: ['skus'],
        summary: 'List SKUs by id; archived ones only with archived=true',
        querystring: Type.Object(
          {
            ...PageQuery,
            archived: Type.Optional(
              OneOf(['true', 'false'], {
                default: 'false',
                description: 'true: archived SKUs are listed too, with the others; false: left out',
              }),
            ),
          },
          { additionalProperties: false },
        ),
        response: { 200: described(Page(Sku), 'A page of SKUs by id; next_cursor reads the next') },
      },
    },
    async (request) => {
      const limit = request.query.limit ?? LIMITS.page_size_default;
      const after_sku = decodeCursor(request.query.cursor, 'string');
      const skus = await store.listSkus(limit, after_sku, request.query.archived === 'true');
      return { items: skus.map(skuView), next_cursor: nextCursor(skus, limit, (sku) => sku.sku) };
    },
  );
};

const getSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/skus/:sku',
    {
      config: { access: { scopes: ['read', 'checkout'] } },
      schema: {
        tags: ['skus'],
        summary: 'Read a SKU and its three buckets',
        params: SkuParams,
        response: {
          200: described(Sku, 'The SKU and its three buckets'),
          ...errorResponses('sku_not_found'),
        },
      },
    },
    async (request) => {
      const sku = await store.getSku(request.params.sku);
      if (!sku) throw skuNotFound([request.params.sku]);
      return skuView(sku);
    },
  );
};

const adjustSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/skus/:sku/adjustments',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['skus'],
        summary: 'Restock or remove units from available',
        params: SkuParams,
        headers: IdempotencyHeaders,
        body: AdjustmentBody,
        response: {
          200: described(Sku, 'Adjusted: the SKU after the movement'),
          ...errorResponses('sku_not_found', 'insufficient_stock', 'version_conflict', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: {
          kind: 'adjust',
          sku: request.params.sku,
          delta: request.body.delta,
          reason: request.body.reason ?? null,
          expected_available: request.body.expected_available ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const updateSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.patch(
    '/v1/skus/:sku',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['skus'],
        summary: "Change a SKU's name, limit, low-stock threshold or archived flag",
        params: SkuParams,
        headers: IdempotencyHeaders,
        body: UpdateSkuBody,
        response: {
          200: described(Sku, 'Changed: the SKU, its version one higher if a field changed'),
          ...errorResponses('sku_not_found', 'version_conflict', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const { name, max_per_customer, low_stock_threshold, archived, expected_version } = request.body;
      const result = await queue.submit({
        command: {
          kind: 'update_sku',
          sku: request.params.sku,
          ...(name === undefined ? {} : { name }),
          ...(max_per_customer === undefined ? {} : { max_per_customer }),
          ...(low_stock_threshold === undefined ? {} : { low_stock_threshold }),
          ...(archived === undefined ? {} : { archived }),
          expected_version: expected_version ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const deleteSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.delete(
    '/v1/skus/:sku',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['skus'],
        summary: 'Delete a SKU that never had an order, a movement or a change (else archive it)',
        params: SkuParams,
        headers: IdempotencyHeaders,
        body: NoBody,
        response: {
          204: described(Type.Null(), 'Deleted, with its ledger'),
          ...errorResponses('sku_not_found', 'sku_in_use', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: { kind: 'delete_sku', sku: request.params.sku },
        idempotency: idempotencyOf(request),
      });
      if (!result.outcome.ok) return sendResult(reply, result, 204);
      if (result.replayed) reply.header('idempotent-replayed', 'true');
      reply.code(204);
      return null;
    },
  );
};

const countSkuRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { queue }) => {
  app.post(
    '/v1/skus/:sku/count',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['skus'],
        summary: "An ERP's count of the unsold units: available becomes unsold - on_hold, holds kept",
        params: SkuParams,
        headers: IdempotencyHeaders,
        body: CountBody,
        response: {
          200: described(Sku, 'Counted: the SKU after the movement'),
          ...errorResponses('sku_not_found', 'count_below_holds', 'version_conflict', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const result = await queue.submit({
        command: {
          kind: 'count',
          sku: request.params.sku,
          unsold: request.body.unsold,
          reason: request.body.reason ?? null,
          expected_version: request.body.expected_version ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      return sendResult(reply, result, 200);
    },
  );
};

const skuLedgerRoute: FastifyPluginAsyncTypebox<AppContext> = async (app, { store }) => {
  app.get(
    '/v1/skus/:sku/ledger',
    {
      config: { access: { scopes: ['read'] } },
      schema: {
        tags: ['skus'],
        summary: 'Every movement of the SKU, oldest first, or newest first with order=newest',
        params: SkuParams,
        querystring: Type.Object(
          {
            ...PageQuery,
            order: Type.Optional(OneOf(['oldest', 'newest'], { default: 'oldest' })),
          },
          { additionalProperties: false },
        ),
        response: {
          200: described(Page(LedgerEntry), 'A page of movements; next_cursor reads the next'),
          ...errorResponses('sku_not_found'),
        },
      },
    },
    async (request) => {
      const { sku } = request.params;
      if (!(await store.getSku(sku))) throw skuNotFound([sku]);
      const limit = request.query.limit ?? LIMITS.page_size_default;
      const newest_first = request.query.order === 'newest';
      const cursor = decodeCursor(request.query.cursor, 'number');
      const entries = await store.ledger(sku, limit, cursor, newest_first);
      return {
        items: entries.map(ledgerEntryView),
        next_cursor: nextCursor(entries, limit, (entry) => entry.seq),
      };
    },
  );
};

export const skuRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, options) => {
  // Called, not registered: the routes stay in this plugin's context, in the OpenAPI document's order.
  const routes = [
    createSkuRoute,
    listSkusRoute,
    getSkuRoute,
    updateSkuRoute,
    deleteSkuRoute,
    adjustSkuRoute,
    countSkuRoute,
    skuLedgerRoute,
  ];
  for (const route of routes) await route(app, options);
};
