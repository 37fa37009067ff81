// The one clock: injectable so expiry is testable without sleeping. Milliseconds since the epoch.
export interface Clock {
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that moves only when told to; for tests and the simulator. */
export class ManualClock implements Clock {
  constructor(private now_ms: number = Date.UTC(2026, 11, 12, 0, 0, 0)) {}
  now(): number {
    return this.now_ms;
  }
  advance(ms: number): void {
    this.now_ms += ms;
  }
  set(ms: number): void {
    this.now_ms = ms;
  }
}
