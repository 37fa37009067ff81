// Webhook endpoints (admin only): register with a secret (generated and shown once when not given),
// list, read, delete, see each endpoint's deliveries with their attempts, and redeliver failed ones.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Clock } from '../../core/clock.ts';
import { StockholdError } from '../../core/errors.ts';
import { EVENT_TYPES } from '../../core/types.ts';
import {
  type Attempt,
  DELIVERY_STATUS,
  type Delivery,
  type Endpoint,
  type WebhookRepository,
} from '../../store/webhook-repository.ts';
import { generateSecret } from '../../webhooks/signature.ts';
import { parseWebhookUrl, type TargetCheck } from '../../webhooks/worker.ts';
import { described, errorResponses, INTEGER_MAX, NoBody, OneOf, TEXT_PATTERN, Text } from '../schemas.ts';

export interface WebhookRoutesOptions {
  webhooks: WebhookRepository;
  clock: Clock;
  check_target?: TargetCheck;
  /** WEBHOOK_ATTEMPTS_MAX: a redelivery's attempt comes after these. */
  attempts_max: number;
}

/** Endpoints one installation may register: each one costs a delivery per event. */
export const ENDPOINTS_MAX = 50;
const URL_LENGTH_MAX = 2048;

const EventTypeSchema = OneOf(EVENT_TYPES);
const Timestamp = Type.String({ format: 'date-time' });

const CreateBody = Type.Object(
  {
    url: Type.String({
      format: 'uri',
      // http(s) only, and the text rule (TEXT_PATTERN) for the rest.
      pattern: `^[Hh][Tt][Tt][Pp][Ss]?://${TEXT_PATTERN.slice(1)}`,
      minLength: 1,
      maxLength: URL_LENGTH_MAX,
      description: 'an absolute http(s) URL',
      examples: ['https://shop.example/hooks/stock'],
    }),
    secret: Type.Optional(
      Text({
        minLength: 16,
        maxLength: 256,
        description: 'HMAC-SHA256 key for the Stockhold-Signature header; generated when absent',
      }),
    ),
    event_types: Type.Optional(
      Type.Array(EventTypeSchema, {
        minItems: 1,
        maxItems: EVENT_TYPES.length,
        uniqueItems: true,
        description: 'the event types to receive; every type when absent',
      }),
    ),
  },
  {
    additionalProperties: false,
    examples: [{ url: 'https://shop.example/hooks/stock', event_types: ['order.paid', 'order.expired'] }],
  },
);

const EndpointSchema = Type.Object({
  id: Type.String(),
  url: Type.String(),
  event_types: Type.Union([Type.Array(Type.String()), Type.Null()]),
  active: Type.Boolean(),
  created_at: Timestamp,
});
const CreatedEndpoint = Type.Object({
  ...EndpointSchema.properties,
  secret: Type.String({ description: 'shown only in this answer' }),
});

const AttemptSchema = Type.Object({
  attempt_no: Type.Integer(),
  at: Timestamp,
  status_code: Type.Union([Type.Integer(), Type.Null()]),
  duration_ms: Type.Integer(),
  error: Type.Union([Type.String(), Type.Null()]),
});
const DeliverySchema = Type.Object({
  id: Type.String(),
  event_id: Type.Integer(),
  event_type: Type.String(),
  subject_id: Type.String(),
  status: Type.String(),
  attempts: Type.Integer(),
  next_attempt_at: Timestamp,
  last_error: Type.Union([Type.String(), Type.Null()]),
  created_at: Timestamp,
  attempt_log: Type.Array(AttemptSchema),
});

const Params = Type.Object({ id: Text({ minLength: 1, maxLength: 64 }) });
const DeliveriesQuery = Type.Object(
  {
    limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 200, default: 50 })),
    before_event_id: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: INTEGER_MAX,
        description: 'page: deliveries of older events (next_before_event_id of the previous page)',
      }),
    ),
    status: Type.Optional(OneOf(Object.values(DELIVERY_STATUS))),
  },
  { additionalProperties: false },
);

const DeliveryParams = Type.Object({
  id: Text({ minLength: 1, maxLength: 64 }),
  delivery_id: Text({ minLength: 1, maxLength: 64 }),
});
/** Failed deliveries redelivered by one call at most; call again for the rest. */
const REDELIVER_BATCH_MAX = 1000;
const RedeliverBody = Type.Object(
  {
    limit: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: REDELIVER_BATCH_MAX,
        default: REDELIVER_BATCH_MAX,
        description: 'failed deliveries to redeliver, oldest event first',
      }),
    ),
  },
  { additionalProperties: false },
);

const iso = (ms: number) => new Date(ms).toISOString();

function deliveryView(delivery: Delivery & { attempt_log: Attempt[] }) {
  return {
    id: delivery.id,
    event_id: delivery.event_id,
    event_type: delivery.event_type,
    subject_id: delivery.subject_id,
    status: delivery.status,
    attempts: delivery.attempts,
    next_attempt_at: iso(delivery.next_attempt_at_ms),
    last_error: delivery.last_error,
    created_at: iso(delivery.created_at_ms),
    attempt_log: delivery.attempt_log.map((attempt) => ({
      attempt_no: attempt.attempt_no,
      at: iso(attempt.at_ms),
      status_code: attempt.status_code,
      duration_ms: attempt.duration_ms,
      error: attempt.error,
    })),
  };
}

function endpointView(endpoint: Endpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    event_types: endpoint.event_types,
    active: endpoint.active,
    created_at: iso(endpoint.created_at_ms),
  };
}

function endpointNotFound(id: string): StockholdError {
  return new StockholdError('not_found', `webhook endpoint ${id} does not exist`, { id });
}

const createEndpointRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (
  app,
  { webhooks, clock, check_target },
) => {
  app.post(
    '/v1/webhooks',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: 'Register a webhook endpoint; the secret is shown once',
        body: CreateBody,
        response: {
          201: described(CreatedEndpoint, 'Registered: the endpoint and its secret (shown only here)'),
          ...errorResponses('limit_exceeded'),
        },
      },
    },
    async (request, reply) => {
      let url: URL;
      try {
        url = parseWebhookUrl(request.body.url);
        await check_target?.(url);
      } catch (error) {
        throw new StockholdError('invalid_request', `url: ${(error as Error).message}`, { field: 'url' });
      }
      if ((await webhooks.countEndpoints()) >= ENDPOINTS_MAX)
        throw new StockholdError('limit_exceeded', `at most ${ENDPOINTS_MAX} webhook endpoints`, {
          limit: ENDPOINTS_MAX,
        });
      const secret = request.body.secret ?? generateSecret();
      const endpoint = await webhooks.createEndpoint({
        url: url.toString(),
        secret,
        event_types: request.body.event_types ?? null,
        now_ms: clock.now(),
      });
      reply.code(201);
      return { ...endpointView(endpoint), secret };
    },
  );
};

const listEndpointsRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, { webhooks }) => {
  app.get(
    '/v1/webhooks',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: 'List webhook endpoints (secrets are never shown again)',
        response: {
          200: described(
            Type.Object({ items: Type.Array(EndpointSchema) }),
            'Every endpoint, without secrets',
          ),
        },
      },
    },
    async () => ({ items: (await webhooks.listEndpoints(ENDPOINTS_MAX)).map(endpointView) }),
  );
};

const getEndpointRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, { webhooks }) => {
  app.get(
    '/v1/webhooks/:id',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: 'Read a webhook endpoint',
        params: Params,
        response: { 200: described(EndpointSchema, 'The endpoint'), ...errorResponses('not_found') },
      },
    },
    async (request) => {
      const endpoint = await webhooks.getEndpoint(request.params.id);
      if (!endpoint) throw endpointNotFound(request.params.id);
      return endpointView(endpoint);
    },
  );
};

const deleteEndpointRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (
  app,
  { webhooks, clock },
) => {
  app.delete(
    '/v1/webhooks/:id',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: 'Delete a webhook endpoint; what it has not received yet is cancelled',
        params: Params,
        body: NoBody,
        response: { 204: described(Type.Null(), 'Deleted'), ...errorResponses('not_found') },
      },
    },
    async (request, reply) => {
      if (!(await webhooks.deleteEndpoint(request.params.id, clock.now())))
        throw endpointNotFound(request.params.id);
      reply.code(204);
      return null;
    },
  );
};

const listDeliveriesRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, { webhooks }) => {
  app.get(
    '/v1/webhooks/:id/deliveries',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: "An endpoint's deliveries, newest event first, with every attempt",
        params: Params,
        querystring: DeliveriesQuery,
        response: {
          200: described(
            Type.Object({
              items: Type.Array(DeliverySchema),
              next_before_event_id: Type.Union([
                Type.Integer({ minimum: 1, maximum: INTEGER_MAX }),
                Type.Null(),
              ]),
            }),
            'A page of deliveries, newest event first',
          ),
          ...errorResponses('not_found'),
        },
      },
    },
    async (request) => {
      if (!(await webhooks.getEndpoint(request.params.id))) throw endpointNotFound(request.params.id);
      const limit = request.query.limit ?? 50;
      const deliveries = await webhooks.listDeliveries(request.params.id, {
        limit,
        before_event_id: request.query.before_event_id,
        status: request.query.status,
      });
      // A full page: there may be more, before its last event.
      const last = deliveries.at(-1);
      return {
        items: deliveries.map(deliveryView),
        next_before_event_id: deliveries.length === limit && last !== undefined ? last.event_id : null,
      };
    },
  );
};

const redeliverRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (
  app,
  { webhooks, clock, attempts_max },
) => {
  app.post(
    '/v1/webhooks/:id/deliveries/:delivery_id/redeliver',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary:
          'Redeliver a failed delivery: one more attempt, now; repeating it while that attempt is queued changes nothing',
        params: DeliveryParams,
        response: {
          202: described(DeliverySchema, 'Queued: the delivery, with one more attempt due now'),
          ...errorResponses('not_found', 'delivery_not_failed'),
        },
      },
    },
    async (request, reply) => {
      const { id, delivery_id } = request.params;
      const { outcome } = await webhooks.redeliver(id, delivery_id, clock.now(), attempts_max);
      const delivery = outcome === 'not_found' ? null : await webhooks.getDelivery(id, delivery_id);
      if (!delivery)
        throw new StockholdError(
          'not_found',
          `webhook delivery ${delivery_id} of endpoint ${id} does not exist`,
          {
            id,
            delivery_id,
          },
        );
      if (outcome === 'not_failed')
        throw new StockholdError(
          'delivery_not_failed',
          `webhook delivery ${delivery_id} is ${delivery.status}: only a failed delivery is redelivered`,
          { delivery_id, status: delivery.status },
        );
      reply.code(202);
      return deliveryView(delivery);
    },
  );
};

const redeliverFailedRoute: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (
  app,
  { webhooks, clock },
) => {
  app.post(
    '/v1/webhooks/:id/redeliver',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['webhooks'],
        summary: "Redeliver an endpoint's failed deliveries (after an outage), oldest event first",
        params: Params,
        body: Type.Optional(RedeliverBody),
        response: {
          202: described(
            Type.Object({
              redelivered: Type.Integer({
                minimum: 0,
                maximum: REDELIVER_BATCH_MAX,
                description: 'deliveries queued; fewer than limit means none is left',
              }),
            }),
            'Queued: how many failed deliveries get one more attempt now',
          ),
          ...errorResponses('not_found'),
        },
      },
    },
    async (request, reply) => {
      const limit = request.body?.limit ?? REDELIVER_BATCH_MAX;
      const redelivered = await webhooks.redeliverFailed(request.params.id, clock.now(), limit);
      if (redelivered === null) throw endpointNotFound(request.params.id);
      reply.code(202);
      return { redelivered };
    },
  );
};

export const webhookRoutes: FastifyPluginAsyncTypebox<WebhookRoutesOptions> = async (app, options) => {
  // Called, not registered: the routes stay in this plugin's context, in the OpenAPI document's order.
  const routes = [
    createEndpointRoute,
    listEndpointsRoute,
    getEndpointRoute,
    deleteEndpointRoute,
    listDeliveriesRoute,
    redeliverRoute,
    redeliverFailedRoute,
  ];
  for (const route of routes) await route(app, options);
};
