// Drop routes (issue 24): create a drop (a command of the write path), read drops, take a ticket,
// read a ticket (the waiting page polls it: two primary-key reads, no count).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import type { Clock } from '../../core/clock.ts';
import { dropNotFound, dropView, ticketNotFound, ticketView } from '../../core/drops.ts';
import { LIMITS } from '../../core/limits.ts';
import type { CommandQueue } from '../../store/command-queue.ts';
import type { DropRepository } from '../../store/drop-repository.ts';
import { sendResult } from '../errors.ts';
import { idempotencyOf } from '../idempotency.ts';
import {
  CreateDropBody,
  Drop,
  DropId,
  described,
  errorResponses,
  IdempotencyHeaders,
  JoinDropBody,
  NoQuery,
  Ticket,
  TicketId,
} from '../schemas.ts';

export interface DropRoutesOptions {
  drops: DropRepository;
  queue: CommandQueue;
  clock: Clock;
}

const DropParams = Type.Object({ id: DropId });
const TicketParams = Type.Object({ id: DropId, ticket: TicketId });
/** Drops listed at once: a store runs a few at a time, the newest matter. */
const DROPS_LISTED_MAX = 100;

const createDropRoute: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (
  app,
  { queue, drops, clock },
) => {
  app.post(
    '/v1/drops',
    {
      config: { access: { scopes: [] } },
      schema: {
        tags: ['drops'],
        summary: 'Create a drop: SKUs behind a waiting room with admission tokens from starts_at',
        headers: IdempotencyHeaders,
        body: CreateDropBody,
        response: {
          201: described(Drop, 'Created: the drop, open until starts_at'),
          ...errorResponses('drop_exists', 'sku_in_drop', 'sku_not_found', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const body = request.body;
      const result = await queue.submit({
        command: {
          kind: 'create_drop',
          drop_id: body.id,
          skus: body.skus,
          starts_at_ms: Date.parse(body.starts_at),
          ends_at_ms: body.ends_at ? Date.parse(body.ends_at) : null,
          admission_per_second: body.admission_per_second ?? LIMITS.admission_per_second_default,
          admission_seconds: body.admission_seconds ?? LIMITS.admission_seconds_default,
          max_per_customer: body.max_per_customer ?? null,
        },
        idempotency: idempotencyOf(request),
      });
      if (!result.outcome.ok) return sendResult(reply, result, 201);
      // The answer of a replay is the drop as it is now, counts included.
      const drop = await drops.getDrop(body.id);
      if (!drop) return sendResult(reply, result, 201);
      const now_ms = clock.now();
      return sendResult(
        reply,
        { ...result, outcome: { ok: true, value: dropView(drop, now_ms, await drops.stats(drop, now_ms)) } },
        201,
      );
    },
  );
};

const listDropsRoute: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (app, { drops, clock }) => {
  app.get(
    '/v1/drops',
    {
      config: { access: { scopes: ['read'] } },
      schema: {
        tags: ['drops'],
        summary: `The newest drops (at most ${DROPS_LISTED_MAX}), with their counts`,
        querystring: NoQuery,
        response: { 200: described(Type.Object({ items: Type.Array(Drop) }), 'The drops, newest first') },
      },
    },
    async () => {
      const now_ms = clock.now();
      const items = [];
      for (const drop of await drops.listDrops(DROPS_LISTED_MAX)) {
        items.push(dropView(drop, now_ms, await drops.stats(drop, now_ms)));
      }
      return { items };
    },
  );
};

const getDropRoute: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (app, { drops, clock }) => {
  app.get(
    '/v1/drops/:id',
    {
      // A waiting page with a checkout key reads its drop (its start, its status) too.
      config: { access: { scopes: ['read', 'checkout'] } },
      schema: {
        tags: ['drops'],
        summary: 'A drop: its status, counts by ticket status, admission pace and wait',
        params: DropParams,
        querystring: NoQuery,
        response: { 200: described(Drop, 'The drop'), ...errorResponses('drop_not_found') },
      },
    },
    async (request) => {
      const drop = await drops.getDrop(request.params.id);
      if (!drop) throw dropNotFound(request.params.id);
      const now_ms = clock.now();
      return dropView(drop, now_ms, await drops.stats(drop, now_ms));
    },
  );
};

const joinRoute: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (app, { drops, clock }) => {
  app.post(
    '/v1/drops/:id/tickets',
    {
      config: { access: { scopes: ['checkout'] } },
      schema: {
        tags: ['drops'],
        summary: "Take the customer's place in the drop's line (one ticket per customer)",
        params: DropParams,
        body: JoinDropBody,
        response: {
          200: described(Ticket, 'The ticket the customer took before'),
          201: described(
            Ticket,
            'Taken: before the start without a position, after it at the back of the line',
          ),
          ...errorResponses('drop_not_found', 'drop_closed', 'overloaded'),
        },
      },
    },
    async (request, reply) => {
      const now_ms = clock.now();
      const joined = await drops.join(request.params.id, request.body.customer_id, now_ms);
      return reply.code(joined.created ? 201 : 200).send(ticketView(joined.drop, joined.ticket, now_ms));
    },
  );
};

const ticketRoute: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (app, { drops, clock }) => {
  app.get(
    '/v1/drops/:id/tickets/:ticket',
    {
      config: { access: { scopes: ['checkout', 'read'] } },
      schema: {
        tags: ['drops'],
        summary:
          'A ticket: its status, position, people ahead, estimated wait, and its admission once admitted',
        params: TicketParams,
        querystring: NoQuery,
        response: { 200: described(Ticket, 'The ticket'), ...errorResponses('ticket_not_found') },
      },
    },
    async (request) => {
      const found = await drops.getTicket(request.params.id, request.params.ticket);
      if (!found) throw ticketNotFound(request.params.id, request.params.ticket);
      return ticketView(found.drop, found.ticket, clock.now());
    },
  );
};

export const dropRoutes: FastifyPluginAsyncTypebox<DropRoutesOptions> = async (app, options) => {
  for (const route of [createDropRoute, listDropsRoute, getDropRoute, joinRoute, ticketRoute]) {
    await route(app, options);
  }
};
