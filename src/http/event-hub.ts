import type { Store, StoredEvent } from '../store/store.ts';

/** The route of the SSE stream (src/http/routes/events.ts). */

export interface EventHubOptions {
  poll_interval_ms: number;
  page_size: number;
  subscribers_max: number;
}

export type EventListener = (event: StoredEvent) => void;

export class EventHub {
  private readonly listeners = new Set<EventListener>();
  private last_id: number | null = null;
  private timer: NodeJS.Timeout | null = null;
  private polling = false;

  constructor(
    private readonly store: Store,
    private readonly options: EventHubOptions = {
      poll_interval_ms: 200,
      page_size: 1000,
      subscribers_max: 1000,
    },
  ) {}

  get subscriber_count(): number {
    return this.listeners.size;
  }

  get full(): boolean {
    return this.listeners.size >= this.options.subscribers_max;
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
          for (const listener of this.listeners) listener(event);
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
