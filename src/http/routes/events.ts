// GET /v1/events: the outbox as a server-sent event stream, resumable with Last-Event-ID.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StockholdError } from '../../core/errors.ts';
import type { StoredEvent } from '../../store/store.ts';
import type { AppContext } from '../context.ts';
import { errorResponses } from '../schemas.ts';

/** A subscriber this far behind is cut off rather than buffered without bound; it can resume. */
const SUBSCRIBER_BUFFER_BYTES_MAX = 4 * 1024 * 1024;
const HEARTBEAT_MS = 15_000;
/** How often a keyed stream asks whether its key still holds: a revoked key's stream ends. */
const KEY_RECHECK_MS = 5_000;
const REPLAY_PAGE_SIZE = 1000;

export function formatEvent(event: StoredEvent): string {
  const body = {
    id: event.id,
    type: event.type,
    subject_id: event.subject_id,
    at: new Date(event.at_ms).toISOString(),
    data: event.data,
  };
  return `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(body)}\n\n`;
}

export const eventRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, { store, events }) => {
  // A stream never ends by itself: without this, closing the server would wait for every open
  // dashboard forever. Ending them lets clients reconnect (with Last-Event-ID) to the next process.
  const open_streams = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const response of open_streams) response.end();
  });

  app.get(
    '/v1/events',
    {
      config: { access: { scopes: ['read'] } },
      schema: {
        tags: ['events'],
        summary: 'Live stream of order and SKU events (text/event-stream); resume with Last-Event-ID',
        headers: Type.Object({
          'last-event-id': Type.Optional(
            Type.String({
              pattern: '^[0-9]{1,15}$',
              maxLength: 15,
              description: 'resume after this event id (the id of the last event received)',
              examples: ['1042'],
            }),
          ),
        }),
        response: {
          200: {
            description:
              'The stream: `retry`, then one frame per event (id, event type, JSON data), keep-alive comments',
            content: {
              'text/event-stream': {
                schema: {
                  type: 'string',
                  examples: [
                    'id: 1042\nevent: order.held\ndata: {"id":1042,"type":"order.held","subject_id":"0193a6f0-3c7e-7a51-9b1e-2f4d5c6b7a80","at":"2026-12-12T00:00:03.000Z","data":{}}\n\n',
                  ],
                },
              },
            },
          },
          ...errorResponses('overloaded'),
        },
      },
    },
    async (request, reply) => {
      if (events.full)
        throw new StockholdError('overloaded', 'too many event subscribers', { retry_after_seconds: 5 });
      const resume_after = request.headers['last-event-id'];
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      response.write('retry: 2000\n\n');
      open_streams.add(response);

      let closed = false;
      const write = (event: StoredEvent) => {
        if (closed || response.writableEnded) return;
        response.write(formatEvent(event));
        if (response.writableLength > SUBSCRIBER_BUFFER_BYTES_MAX) response.destroy();
      };
      // Subscribe before replaying, buffer what arrives meanwhile, so nothing falls in between.
      const buffered: StoredEvent[] = [];
      let live = false;
      let heartbeat: NodeJS.Timeout | undefined;
      let unsubscribe: (() => void) | undefined;
      // The key was checked when the stream opened; a stream lasts, so it is asked again.
      const key_recheck = request.api_key
        ? setInterval(async () => {
            if (!closed && !(await request.key_still_valid!())) response.end();
          }, KEY_RECHECK_MS)
        : undefined;
      // Listening for the close first: a client gone while we subscribe leaves no listener behind.
      // The response's own close too: a stream this server ends (revoked key) keeps its connection.
      const cleanUp = () => {
        closed = true;
        open_streams.delete(response);
        clearInterval(heartbeat);
        clearInterval(key_recheck);
        unsubscribe?.();
      };
      request.raw.on('close', cleanUp);
      response.on('close', cleanUp);
      const subscription = await events.subscribe((event) => (live ? write(event) : buffered.push(event)));
      if (closed) {
        subscription.unsubscribe();
        return;
      }
      unsubscribe = subscription.unsubscribe;
      heartbeat = setInterval(() => {
        if (!response.writableEnded) response.write(': keep-alive\n\n');
      }, HEARTBEAT_MS);

      if (resume_after !== undefined) {
        let cursor = Number(resume_after);
        while (!closed && cursor < subscription.position) {
          const page = await store.eventsAfter(cursor, REPLAY_PAGE_SIZE);
          for (const event of page) if (event.id <= subscription.position) write(event);
          if (page.length < REPLAY_PAGE_SIZE) break;
          cursor = page.at(-1)!.id;
        }
      }
      for (const event of buffered) write(event);
      live = true;
    },
  );
};
