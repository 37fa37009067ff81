// GET /v1/events: the outbox as a server-sent event stream, resumable with Last-Event-ID.
import type { ServerResponse } from 'node:http';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { StockholdError } from '../../core/errors.ts';
import type { AppContext } from '../context.ts';
import type { EventHub, FormattedEvent, StreamBudget } from '../event-hub.ts';
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
      const stream = new EventStream(events, request, reply.raw, budget, open_streams);
      stream.open();
      await stream.follow(resume_after === undefined ? null : Number(resume_after));
    },
  );
};

/**
 * One subscriber's stream: what waits for its socket is counted against its budget, a backlog is
 * replayed from the store under backpressure, then live events follow from where the replay ended.
 */
class EventStream {
  private closed = false;
  private cleaned = false;
  private stall_timer: NodeJS.Timeout | undefined;
  private heartbeat: NodeJS.Timeout | undefined;
  private key_recheck: NodeJS.Timeout | undefined;
  private unsubscribe: (() => void) | undefined;
  /** Live events that arrive while the replay fills its last gap: counted against the budget. */
  private readonly pending: FormattedEvent[] = [];
  private pending_bytes = 0;
  private live = false;
  /** The id of the last event sent: the replay's position, and where live events take over. */
  private cursor = 0;

  constructor(
    private readonly events: EventHub,
    private readonly request: FastifyRequest,
    private readonly response: ServerResponse,
    private readonly budget: StreamBudget,
    private readonly open_streams: Set<ServerResponse>,
  ) {}

  /** Answers 200 and starts the stream: the retry frame, heartbeats and key rechecks. */
  open(): void {
    const { request, response } = this;
    response.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    this.open_streams.add(response);
    response.on('drain', () => {
      clearTimeout(this.stall_timer);
      this.stall_timer = undefined;
      this.budget.observe(response.writableLength + this.pending_bytes);
    });
    // The key was checked when the stream opened; a stream lasts, so it is asked again.
    const { key_still_valid } = request;
    if (request.api_key && key_still_valid) {
      this.key_recheck = setInterval(async () => {
        if (!this.closed && !(await key_still_valid.call(request))) response.end();
      }, KEY_RECHECK_MS);
    }
    // Listening for the close first: a client gone while we subscribe leaves no listener behind.
    // The response's own close too: a stream this server ends (revoked key) keeps its connection.
    const cleanUp = () => this.cleanUp();
    request.raw.on('close', cleanUp);
    response.on('close', cleanUp);
    this.send('retry: 2000\n\n');
    this.heartbeat = setInterval(() => this.send(': keep-alive\n\n'), HEARTBEAT_MS);
  }

  /** Replays what follows `resume_after` (when given), then sends live events until the stream ends. */
  async follow(resume_after: number | null): Promise<void> {
    this.cursor = resume_after ?? 0;
    try {
      // A backlog is read from the store under backpressure, never buffered whole; the stream
      // joins the live events only once it caught up, so they wait in memory only for the gap.
      if (resume_after !== null) await this.replay();
      if (this.closed) return;
      const subscription = await this.events.subscribe((event) => this.receive(event));
      if (this.closed) {
        subscription.unsubscribe();
        return;
      }
      this.unsubscribe = subscription.unsubscribe;
      // The gap between the replay's end and the hub's position; the replay may read past that
      // position, and what it sent is then skipped when it arrives live.
      if (resume_after === null) this.cursor = subscription.position;
      else await this.replay();
      if (this.closed) return;
      for (const event of this.pending) {
        if (event.id <= this.cursor) continue;
        this.cursor = event.id;
        this.send(event.text);
      }
      this.pending.length = 0;
      this.pending_bytes = 0;
      this.live = true;
    } catch (error) {
      // The store failed mid-replay: end the stream; the client resumes where it got to.
      this.request.log.warn({ err: error }, 'event stream replay failed');
      this.cut('replay_failed');
    }
  }

  /** A live event from the hub: sent once the stream is live, held (and counted) until then. */
  private receive(event: FormattedEvent): void {
    if (this.live) {
      if (event.id > this.cursor) {
        this.cursor = event.id;
        this.send(event.text);
      }
    } else if (!this.closed) {
      this.pending.push(event);
      this.pending_bytes += event.text.length;
      this.account(!this.response.writableNeedDrain);
    }
  }

  private cut(reason: string): void {
    if (this.closed) return;
    const { response } = this;
    this.request.log.info({ reason, waiting_bytes: response.writableLength }, 'event stream disconnected');
    this.closed = true;
    // A reset, not a FIN queued behind bytes the client does not read: the kernel frees the
    // socket's buffers now instead of keeping them for a reader that may never come back.
    if (response.socket) response.socket.resetAndDestroy();
    else response.destroy();
  }

  // Every byte goes through here: what now waits for the socket is counted, and a stream over
  // its budget, or whose bytes have not drained for stall_timeout_ms, is cut. The client resumes
  // with Last-Event-ID; what it missed is in the outbox, not in this process's memory.
  private account(flowing: boolean): boolean {
    this.budget.observe(this.response.writableLength + this.pending_bytes);
    const over = this.budget.over(!flowing);
    if (over) {
      this.cut(over);
      return false;
    }
    if (!flowing)
      this.stall_timer ??= setTimeout(() => this.cut('stalled'), this.events.options.stall_timeout_ms);
    return flowing;
  }

  private send(text: string): boolean {
    if (this.closed || this.response.writableEnded) return false;
    return this.account(this.response.write(text));
  }

  /** Resolves when the socket took what waited (or the stream ended): the replay's backpressure. */
  private drained(): Promise<void> {
    const { response } = this;
    return new Promise<void>((resolve) => {
      const done = () => {
        response.off('drain', done);
        response.off('close', done);
        resolve();
      };
      response.on('drain', done);
      response.on('close', done);
    });
  }

  /** Sends what follows the cursor from the store, a page at a time, each piece only once the socket took the last. */
  private async replay(): Promise<void> {
    while (!this.closed) {
      const page = await this.events.replayPage(this.cursor, REPLAY_PAGE_SIZE);
      for (const chunk of page.chunks) {
        // Replays share a few pieces per turn of the event loop: hundreds of them take turns
        // with every other request instead of writing megabytes each in one go.
        await this.events.replayTurn(chunk.length);
        if (this.closed) return;
        if (!this.send(chunk) && !this.closed) await this.drained();
      }
      if (page.last_id !== null) this.cursor = page.last_id;
      if (!page.full) return;
    }
  }

  private cleanUp(): void {
    if (this.cleaned) return;
    this.cleaned = true;
    this.closed = true;
    this.open_streams.delete(this.response);
    clearInterval(this.heartbeat);
    clearInterval(this.key_recheck);
    clearTimeout(this.stall_timer);
    this.unsubscribe?.();
    this.budget.close();
  }
}
