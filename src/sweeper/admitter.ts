// Admits the tickets of running drops at their rate (issue 24). Every server process runs one; the
// rate's clock and the queue's place live in each drop's row, which a pass locks, so the processes
// together admit at the drop's rate and each ticket once. A pass also positions the pre-queue at the
// start, expires lapsed admissions, pauses while nothing is available and releases the queue when
// the drop sells out (the core's planAdmission decides which).
import type { Logger } from 'pino';
import type { Clock } from '../core/clock.ts';
import type { AdmissionReport, DropRepository } from '../store/drop-repository.ts';
import { isStorageUnavailable, OutageEpisodes } from '../store/storage-faults.ts';

export type AdmissionObserver = (reports: readonly AdmissionReport[]) => void;

/** A tenth of a second: at 1,000 admissions/s a pass admits about 100. */
export const ADMISSION_INTERVAL_MS = 100;

export class Admitter {
  private timer: NodeJS.Timeout | null = null;
  private current: Promise<unknown> | null = null;
  private readonly outages: OutageEpisodes;

  constructor(
    private readonly drops: DropRepository,
    private readonly clock: Clock,
    private readonly logger: Logger,
    private readonly on_pass: AdmissionObserver = () => {},
    private readonly interval_ms = ADMISSION_INTERVAL_MS,
  ) {
    this.outages = new OutageEpisodes('the admitter', logger);
  }

  start(): void {
    if (this.timer) return;
    const tick = () => {
      this.current = this.tick().finally(() => {
        this.current = null;
        if (this.timer) this.timer = setTimeout(tick, this.outages.delayMs(this.interval_ms));
      });
    };
    this.timer = setTimeout(tick, this.interval_ms);
  }

  /** Stops the schedule and waits for the pass in progress, if any. */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    await this.current;
  }

  /** One pass over every running drop; returns what it did to each. */
  async admitOnce(): Promise<AdmissionReport[]> {
    const reports = await this.drops.admit(this.clock.now());
    this.on_pass(reports);
    for (const report of reports) {
      if (report.sold_out) this.logger.info({ drop_id: report.drop_id }, 'drop sold out: its line released');
    }
    return reports;
  }

  private async tick(): Promise<void> {
    try {
      await this.admitOnce();
      this.outages.succeeded();
    } catch (error) {
      // A failed pass changes nothing (one transaction per drop); the next tick tries again.
      if (isStorageUnavailable(error)) this.outages.failed(error);
      else this.logger.error({ err: error }, 'admission pass failed');
    }
  }
}
