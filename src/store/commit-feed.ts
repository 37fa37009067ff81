// What each committed write did, told to whoever listens (the metrics): the store owns the feed from
// its construction, so nothing is set on the store afterwards and listeners may come and go.
import type { DomainEvent } from '../core/types.ts';
import type { CommandEnvelope, CommandResult } from './store.ts';

/** One committed write, as the metrics see it: a batch of commands, or a sweeper's batch. */
export type CommitReport =
  | {
      source: 'execute';
      envelopes: readonly CommandEnvelope[];
      results: readonly CommandResult[];
      events: readonly DomainEvent[];
    }
  | { source: 'sweep'; expired_orders: number };

export type CommitObserver = (report: CommitReport) => void;

export class CommitFeed {
  private readonly observers = new Set<CommitObserver>();

  /** Tells `observer` of every commit from now on; returns what stops it. */
  listen(observer: CommitObserver): () => void {
    this.observers.add(observer);
    return () => this.observers.delete(observer);
  }

  /** Called after a commit; an observer that throws never reaches the write path. */
  publish(report: CommitReport): void {
    for (const observer of this.observers) {
      try {
        observer(report);
      } catch {
        // Observers are metrics: a bug there must not turn a committed write into an error.
      }
    }
  }
}
