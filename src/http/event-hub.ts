// The live side of GET /v1/events (src/http/routes/events.ts): one poller of the outbox for every
// subscriber, each event formatted once, and the byte budget that bounds what subscribers that do
// not read can make the server hold: per subscriber and in total.
import { setImmediate } from 'node:timers/promises';
import type { Store, StoredEvent } from '../store/store.ts';

export interface EventHubOptions {
  poll_interval_ms: number;
  page_size: number;
  /** Streams open at once (replaying or live). */
  subscribers_max: number;
  /** Bytes one stream may have waiting to be sent; past it, it is disconnected. */
  subscriber_buffer_bytes_max: number;
  /** Bytes every stream together may have waiting; past it, streams that lag are disconnected. */
  buffer_bytes_max: number;
  /** A stream whose waiting bytes have not drained for this long is not reading: it is disconnected. */
  stall_timeout_ms: number;
}

export const EVENT_HUB_DEFAULTS: EventHubOptions = {
  poll_interval_ms: 200,
  page_size: 1000,
  subscribers_max: 1000,
  subscriber_buffer_bytes_max: 1024 * 1024,
  buffer_bytes_max: 64 * 1024 * 1024,
  stall_timeout_ms: 30_000,
};

/** An event as sent: formatted once, the same text written to every subscriber. */
export interface FormattedEvent {
  id: number;
  text: string;
}

export type EventListener = (event: FormattedEvent) => void;

/** Why a stream is over its budget: its own bytes, or everyone's while it lags. */
export type OverBudget = 'subscriber_buffer_full' | 'total_buffer_full';

/** One stream's share of the budget; `observe` what waits to be sent after every write and drain. */
export interface StreamBudget {
  observe(waiting_bytes: number): void;
  /** Whether the stream must be cut; `lagging`: its socket is over its high-water mark. */
  over(lagging: boolean): OverBudget | null;
  close(): void;
}

export function formatEvent(event: StoredEvent): FormattedEvent {
  const body = {
    id: event.id,
    type: event.type,
    subject_id: event.subject_id,
    at: new Date(event.at_ms).toISOString(),
    data: event.data,
  };
  return { id: event.id, text: `id: ${event.id}\nevent: ${event.type}\ndata: ${JSON.stringify(body)}\n\n` };
}

/**
 * Replay pages read from the store at once, over every stream: hundreds of streams resuming
 * together would otherwise queue hundreds of reads ahead of /readyz and the live poll.
 */
const REPLAY_READS_MAX = 2;
/**
 * Full replay pages kept, as sent, for the next stream that asks for the same page: streams that
 * resume together (a dashboard fleet after a deploy, or an attack) read and format a backlog once.
 */
const REPLAY_CACHE_BYTES_MAX = 16 * 1024 * 1024;
/** A replay page is written in pieces of at most this many bytes (one event may exceed it). */
const REPLAY_CHUNK_BYTES_MAX = 64 * 1024;

/**
 * Replay bytes written per turn of the event loop, over every stream: the kernel takes megabytes
 * into each socket before a client that does not read shows it, and hundreds of streams writing
 * that at once would hold every other request up for seconds.
 */
const REPLAY_BYTES_PER_TURN_MAX = 1024 * 1024;

/** A page of the outbox as a replay writes it. */
export interface ReplayPage {
  /** The events' text, concatenated into pieces of at most REPLAY_CHUNK_BYTES_MAX. */
  chunks: string[];
  /** The id of the page's last event; null for an empty page. */
  last_id: number | null;
  /** The page had as many events as asked for: there may be more. */
  full: boolean;
  bytes: number;
}

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private last_id: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private readonly replay_cache = new Map<number, ReplayPage>();
  private replay_cache_bytes = 0;
  private readonly replay_reading = new Map<number, Promise<ReplayPage>>();
  private replay_reads = 0;
  private turn_bytes = 0;
  private turn_reset: NodeJS.Immediate | null = null;
  private readonly replay_waiters: (() => void)[] = [];
  private streams = 0;
  private streams_opened = 0;
  private waiting_bytes = 0;
  readonly options: EventHubOptions;

  constructor(
    private readonly store: Store,
    options: Partial<EventHubOptions> = {},
  ) {
    this.options = { ...EVENT_HUB_DEFAULTS, ...options };
    if (this.options.subscriber_buffer_bytes_max > this.options.buffer_bytes_max)
      throw new Error('subscriber_buffer_bytes_max must not exceed buffer_bytes_max');
  }

  get subscriber_count(): number {
    return this.streams;
  }

  /** Streams admitted since start (a counter: a stream that opened and was already cut counts). */
  get opened_count(): number {
    return this.streams_opened;
  }

  /** Bytes waiting to be sent to every stream, as last observed (an over-estimate, never under). */
  get buffered_bytes(): number {
    return this.waiting_bytes;
  }

  /** Admits one more stream, or null while the streams or their bytes are at their bound. */
  open(): StreamBudget | null {
    const { subscribers_max, subscriber_buffer_bytes_max, buffer_bytes_max } = this.options;
    if (this.streams >= subscribers_max || this.waiting_bytes >= buffer_bytes_max) return null;
    this.streams++;
    this.streams_opened++;
    let bytes = 0;
    let open = true;
    return {
      observe: (waiting_bytes) => {
        if (!open) return;
        this.waiting_bytes += waiting_bytes - bytes;
        bytes = waiting_bytes;
      },
      over: (lagging) => {
        if (bytes > subscriber_buffer_bytes_max) return 'subscriber_buffer_full';
        // Past the total, the streams that lag give way; one that keeps up costs next to nothing.
        if (lagging && this.waiting_bytes > buffer_bytes_max) return 'total_buffer_full';
        return null;
      },
      close: () => {
        if (!open) return;
        open = false;
        this.streams--;
        this.waiting_bytes -= bytes;
        bytes = 0;
      },
    };
  }

  /**
   * The page of the outbox after `after_id` for a stream that catches up: from the cache, or read
   * when one of the few read slots is free.
   */
  async replayPage(after_id: number, limit: number): Promise<ReplayPage> {
    const cached = this.replay_cache.get(after_id);
    if (cached) {
      // Most recently used last: the cache forgets the page no stream asked for longest.
      this.replay_cache.delete(after_id);
      this.replay_cache.set(after_id, cached);
      return cached;
    }
    // Streams that ask for the same page while it is being read wait for that one read.
    const reading = this.replay_reading.get(after_id);
    if (reading) return reading;
    const read = this.readReplayPage(after_id, limit);
    this.replay_reading.set(after_id, read);
    try {
      return await read;
    } finally {
      this.replay_reading.delete(after_id);
    }
  }

  private async readReplayPage(after_id: number, limit: number): Promise<ReplayPage> {
    if (this.replay_reads < REPLAY_READS_MAX) this.replay_reads++;
    else await new Promise<void>((resolve) => this.replay_waiters.push(resolve));
    let events: StoredEvent[];
    try {
      // A turn of the event loop first: SQLite answers at once, and back-to-back reads would
      // otherwise run as one long chain that /readyz and every other request wait behind.
      await setImmediate();
      events = await this.store.eventsAfter(after_id, limit);
    } finally {
      // The slot passes straight to the next waiter, so none is overtaken.
      const next = this.replay_waiters.shift();
      if (next) next();
      else this.replay_reads--;
    }
    const page = replayPage(events, limit, this.chunk_bytes_max);
    // Only a full page stays as it is: a short one grows as events are written.
    if (page.full && page.bytes <= REPLAY_CACHE_BYTES_MAX && !this.replay_cache.has(after_id)) {
      this.replay_cache.set(after_id, page);
      this.replay_cache_bytes += page.bytes;
      for (const [key, oldest] of this.replay_cache) {
        if (this.replay_cache_bytes <= REPLAY_CACHE_BYTES_MAX) break;
        this.replay_cache.delete(key);
        this.replay_cache_bytes -= oldest.bytes;
      }
    }
    return page;
  }

  /** Waits until this turn of the event loop may carry `bytes` more of replay, then counts them. */
  async replayTurn(bytes: number): Promise<void> {
    // Bounded: a waiting stream gets its turn within (streams x piece size / the bound) turns.
    for (let turn = 0; turn < 100_000; turn++) {
      if (this.turn_bytes < REPLAY_BYTES_PER_TURN_MAX) break;
      await setImmediate();
    }
    this.turn_bytes += bytes;
    this.turn_reset ??= globalThis.setImmediate(() => {
      this.turn_bytes = 0;
      this.turn_reset = null;
    });
  }

  /** Pieces small next to a subscriber's bound, so a replay write never pushes a reader over it. */
  private get chunk_bytes_max(): number {
    return Math.min(REPLAY_CHUNK_BYTES_MAX, Math.floor(this.options.subscriber_buffer_bytes_max / 4));
  }

  /** Subscribes to events after the current end of the outbox; returns that position. */
  async subscribe(listener: EventListener): Promise<{ position: number; unsubscribe: () => void }> {
    if (this.last_id === null) this.last_id = await this.store.lastEventId();
    this.listeners.add(listener);
    if (!this.timer) this.timer = setInterval(() => void this.poll(), this.options.poll_interval_ms);
    return {
      position: this.last_id,
      unsubscribe: () => {
        this.listeners.delete(listener);
        if (this.listeners.size === 0) this.stop();
      },
    };
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.last_id = null;
  }

  private async poll(): Promise<void> {
    if (this.polling || this.last_id === null) return;
    this.polling = true;
    try {
      for (;;) {
        const events = await this.store.eventsAfter(this.last_id, this.options.page_size);
        for (const event of events) {
          this.last_id = event.id;
          const formatted = formatEvent(event);
          for (const listener of this.listeners) listener(formatted);
        }
        if (events.length < this.options.page_size || this.last_id === null) break;
      }
    } catch {
      // The database is unreachable for a moment: the next tick tries again from the same position.
    } finally {
      this.polling = false;
    }
  }
}

function replayPage(events: StoredEvent[], limit: number, chunk_bytes_max: number): ReplayPage {
  const chunks: string[] = [];
  let chunk = '';
  let bytes = 0;
  for (const event of events) {
    const { text } = formatEvent(event);
    if (chunk !== '' && chunk.length + text.length > chunk_bytes_max) {
      chunks.push(chunk);
      chunk = '';
    }
    chunk += text;
    bytes += text.length;
  }
  if (chunk !== '') chunks.push(chunk);
  return { chunks, last_id: events.at(-1)?.id ?? null, full: events.length >= limit, bytes };
}
