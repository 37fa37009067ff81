// The live side of GET /v1/events (src/http/routes/events.ts): one poller of the outbox for every
// subscriber, each event formatted once, and the byte budget that bounds what subscribers that do
// not read can make the server hold: per subscriber and in total.
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

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private last_id: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;
  private streams = 0;
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

  /** Bytes waiting to be sent to every stream, as last observed (an over-estimate, never under). */
  get buffered_bytes(): number {
    return this.waiting_bytes;
  }

  /** Admits one more stream, or null while the streams or their bytes are at their bound. */
  open(): StreamBudget | null {
    const { subscribers_max, subscriber_buffer_bytes_max, buffer_bytes_max } = this.options;
    if (this.streams >= subscribers_max || this.waiting_bytes >= buffer_bytes_max) return null;
    this.streams++;
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
