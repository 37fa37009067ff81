// What the routes are given: the store for reads, the command queue for writes, and the clock.
import type { Clock } from '../core/clock.ts';
import type { CommandQueue } from '../store/command-queue.ts';
import type { Store } from '../store/store.ts';
import type { EventHub } from './event-hub.ts';

export interface AppContext {
  store: Store;
  queue: CommandQueue;
  clock: Clock;
  events: EventHub;
  default_hold_seconds: number;
  /** HOLD_EXTENSIONS_MAX (LIMITS.hold_extensions_max_default when absent). */
  hold_extensions_max?: number;
  /** HOLD_SECONDS_TOTAL_MAX (LIMITS.hold_seconds_total_max_default when absent). */
  hold_seconds_total_max?: number;
}
