// What is kept only for a while: the seam between the features that keep such rows (idempotency
// keys, webhook deliveries, outbox events) and the sweeper that runs their purges. Here, below both,
// so neither imports the other.

/** Something kept for a while and then forgotten. */
export interface RetentionPurge {
  /** What it forgets, for the log line and the counts. */
  readonly what: string;
  /** Forgets a bounded amount of what is past its retention at `now_ms`; returns how many rows. */
  purge(now_ms: number): Promise<number>;
}
