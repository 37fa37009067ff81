// GET /v1/events: the outbox as a server-sent event stream, resumable with Last-Event-ID.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { StockholdError } from '../../core/errors.ts';
import type { AppContext } from '../context.ts';
import type { FormattedEvent } from '../event-hub.ts';
import { errorResponses } from '../schemas.ts';

const HEARTBEAT_MS = 15_000;
/** How often a keyed stream asks whether its key still holds: a revoked key's stream ends. */
const KEY_RECHECK_MS = 5_000;
/** Events read from the store at a time while replaying: what one replaying stream holds at most. */
const REPLAY_PAGE_SIZE = 100;

export const eventRoutes: FastifyPluginAsyncTypebox<AppContext> = async (app, { events }) => {
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
      const budget = events.open();
      if (!budget)
        throw new StockholdError('overloaded', 'too many event subscribers, or bytes waiting for them', {
          retry_after_seconds: 5,
        });
      const resume_after = request.headers['last-event-id'];
      reply.hijack();
      const response = reply.raw;
      response.writeHead(200, {
        'content-type': 'text/event-stream; charset=utf-8',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
        'x-accel-buffering': 'no',
      });
      open_streams.add(response);

      let closed = false;
      let stall_timer: NodeJS.Timeout | undefined;
      let heartbeat: NodeJS.Timeout | undefined;
      let unsubscribe: (() => void) | undefined;
      /** Live events that arrive while the replay fills its last gap: counted against the budget. */
      const pending: FormattedEvent[] = [];
      let pending_bytes = 0;
      let live = false;
      const cut = (reason: string) => {
        if (closed) return;
        request.log.info({ reason, waiting_bytes: response.writableLength }, 'event stream disconnected');
        closed = true;
        // A reset, not a FIN queued behind bytes the client does not read: the kernel frees the
        // socket's buffers now instead of keeping them for a reader that may never come back.
        if (response.socket) response.socket.resetAndDestroy();
        else response.destroy();
      };
      // Every byte goes through here: what now waits for the socket is counted, and a stream over
      // its budget, or whose bytes have not drained for stall_timeout_ms, is cut. The client resumes
      // with Last-Event-ID; what it missed is in the outbox, not in this process's memory.
      const account = (flowing: boolean): boolean => {
        budget.observe(response.writableLength + pending_bytes);
        const over = budget.over(!flowing);
        if (over) {
          cut(over);
          return false;
        }
        if (!flowing) stall_timer ??= setTimeout(() => cut('stalled'), events.options.stall_timeout_ms);
        return flowing;
      };
      const send = (text: string): boolean => {
        if (closed || response.writableEnded) return false;
        return account(response.write(text));
      };
      response.on('drain', () => {
        clearTimeout(stall_timer);
        stall_timer = undefined;
        budget.observe(response.writableLength + pending_bytes);
      });
      /** Resolves when the socket took what waited (or the stream ended): the replay's backpressure. */
      const drained = () =>
        new Promise<void>((resolve) => {
          const done = () => {
            response.off('drain', done);
            response.off('close', done);
            resolve();
          };
          response.on('drain', done);
          response.on('close', done);
        });
      /** The id of the last event sent: the replay's position, and where live events take over. */
      let cursor = resume_after === undefined ? 0 : Number(resume_after);
      /** Sends what follows `cursor` from the store, a page at a time, each piece only once the socket took the last. */
      const replay = async () => {
        while (!closed) {
          const page = await events.replayPage(cursor, REPLAY_PAGE_SIZE);
          for (const chunk of page.chunks) {
            // Replays share a few pieces per turn of the event loop: hundreds of them take turns
            // with every other request instead of writing megabytes each in one go.
            await events.replayTurn(chunk.length);
            if (closed) return;
            if (!send(chunk) && !closed) await drained();
          }
          if (page.last_id !== null) cursor = page.last_id;
          if (!page.full) return;
        }
      };

      // The key was checked when the stream opened; a stream lasts, so it is asked again.
      const key_recheck = request.api_key
        ? setInterval(async () => {
            if (!closed && !(await request.key_still_valid!())) response.end();
          }, KEY_RECHECK_MS)
        : undefined;
      // Listening for the close first: a client gone while we subscribe leaves no listener behind.
      // The response's own close too: a stream this server ends (revoked key) keeps its connection.
      let cleaned = false;
      const cleanUp = () => {
        if (cleaned) return;
        cleaned = true;
        closed = true;
        open_streams.delete(response);
        clearInterval(heartbeat);
        clearInterval(key_recheck);
        clearTimeout(stall_timer);
        unsubscribe?.();
        budget.close();
      };
      request.raw.on('close', cleanUp);
      response.on('close', cleanUp);
      send('retry: 2000\n\n');
      heartbeat = setInterval(() => send(': keep-alive\n\n'), HEARTBEAT_MS);

      try {
        // A backlog is read from the store under backpressure, never buffered whole; the stream
        // joins the live events only once it caught up, so they wait in memory only for the gap.
        if (resume_after !== undefined) await replay();
        if (closed) return;
        const subscription = await events.subscribe((event) => {
          if (live) {
            if (event.id > cursor) {
              cursor = event.id;
              send(event.text);
            }
          } else if (!closed) {
            pending.push(event);
            pending_bytes += event.text.length;
            account(!response.writableNeedDrain);
          }
        });
        if (closed) {
          subscription.unsubscribe();
          return;
        }
        unsubscribe = subscription.unsubscribe;
        // The gap between the replay's end and the hub's position; the replay may read past that
        // position, and what it sent is then skipped when it arrives live.
        if (resume_after === undefined) cursor = subscription.position;
        else await replay();
        if (closed) return;
        for (const event of pending) {
          if (event.id <= cursor) continue;
          cursor = event.id;
          send(event.text);
        }
        pending.length = 0;
        pending_bytes = 0;
        live = true;
      } catch (error) {
        // The store failed mid-replay: end the stream; the client resumes where it got to.
        request.log.warn({ err: error }, 'event stream replay failed');
        cut('replay_failed');
      }
    },
  );
};
