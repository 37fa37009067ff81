// Returns the holds of unpaid orders past their deadline, at its own pace, in bounded batches.
// Deadlines live in the database, so any process's sweeper honours them, even after a restart.
// Once a minute it also forgets what is kept only for a while (retention purges): idempotency keys,
// and, given by the server, finished webhook deliveries and old outbox events. Every server process
// runs a sweeper, so these happen whichever processes deliver webhooks, even if none does.
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import { LIMITS } from '../core/limits.ts';
import { isStorageUnavailable, OutageEpisodes } from '../store/storage-faults.ts';
import type { Store } from '../store/store.ts';

export interface SweeperOptions {
  interval_ms: number;
  batch_size: number;
  /** Batches one tick may run before yielding to the next tick, so a backlog cannot hog the writer. */
  batches_per_tick_max: number;
  /** How often the retention purges run. */
  purge_interval_ms: number;
}

/** Something kept for a while and then forgotten. */
export interface RetentionPurge {
  /** What it forgets, for the log line and the counts. */
  readonly what: string;
  /** Forgets a bounded amount of what is past its retention at `now_ms`; returns how many rows. */
  purge(now_ms: number): Promise<number>;
}

export type SweepObserver = (released_orders: number, duration_ms: number) => void;

export class Sweeper {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<unknown> | null = null;
  private last_purge_ms = 0;
  private readonly purges: readonly RetentionPurge[];
  /** While the database is away: logged once, ticks spaced out, resumed by itself. */
  private readonly outages: OutageEpisodes;

  constructor(
    private readonly store: Store,
    private readonly clock: Clock,
    private readonly options: SweeperOptions,
    private readonly logger: Logger,
    /** Purges besides the idempotency keys', which are the store's own. */
    purges: readonly RetentionPurge[] = [],
    private readonly on_sweep: SweepObserver = () => {},
  ) {
    this.outages = new OutageEpisodes('the sweeper', logger);
    this.purges = [
      {
        what: 'idempotency keys',
        purge: (now_ms) => store.purgeIdempotencyKeys(now_ms - LIMITS.idempotency_retention_ms),
      },
      ...purges,
    ];
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.current = this.tick().finally(() => {
        this.current = null;
        if (this.timer) this.timer = setTimeout(tick, this.outages.delayMs(this.options.interval_ms));
      });
    };
    this.timer = setTimeout(tick, this.options.interval_ms);
  }

  /** Stops the schedule and waits for the sweep in progress, if any. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current;
  }

  /** Releases every due hold, batch by batch, up to the tick's bound; returns the orders expired. */
  async sweepOnce(): Promise<number> {
    let released = 0;
    for (let batch = 0; batch < this.options.batches_per_tick_max; batch++) {
      const started_ms = performance.now();
      const count = await this.store.sweepExpired(this.clock.now(), this.options.batch_size);
      this.on_sweep(count, performance.now() - started_ms);
      released += count;
      if (count < this.options.batch_size) break;
    }
    return released;
  }

  /**
   * Runs every retention purge once; returns how many rows each forgot. A purge that fails is
   * logged and tried again next time; the others still run.
   */
  async purgeRetained(): Promise<Record<string, number>> {
    const now_ms = this.clock.now();
    const purged: Record<string, number> = {};
    for (const { what, purge } of this.purges) {
      try {
        purged[what] = await purge(now_ms);
        if (purged[what] > 0) this.logger.info({ purged: purged[what], what }, 'retention purge');
      } catch (error) {
        if (isStorageUnavailable(error)) this.outages.failed(error);
        else this.logger.error({ err: error, what }, 'retention purge failed');
      }
    }
    return purged;
  }

  private async tick(): Promise<void> {
    try {
      const released = await this.sweepOnce();
      this.outages.succeeded();
      if (released > 0) this.logger.info({ released_orders: released }, 'expired holds released');
      const now_ms = this.clock.now();
      if (now_ms - this.last_purge_ms >= this.options.purge_interval_ms) {
        this.last_purge_ms = now_ms;
        await this.purgeRetained();
      }
    } catch (error) {
      // A failed sweep changes nothing (one transaction per batch); the next tick tries again.
      if (isStorageUnavailable(error)) this.outages.failed(error);
      else this.logger.error({ err: error }, 'sweep failed');
    }
  }
}
