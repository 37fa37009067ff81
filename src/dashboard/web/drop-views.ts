// What GET /v1/drops and GET /v1/drops/{id}/tickets/{ticket} answer (the core's views, types only),
// and the formatting the waiting page and the dashboard's Drops panel share.
export type { DropView, TicketStatus, TicketView } from '../../core/drops.ts';

/** "850 ms", "14.0 s", "3 min 04 s"; "—" when there is nothing to measure yet. */
export function formatDuration(duration_ms: number | null | undefined): string {
  if (duration_ms === null || duration_ms === undefined) return '—';
  if (duration_ms < 1000) return `${Math.round(duration_ms)} ms`;
  if (duration_ms < 60_000) return `${(duration_ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(duration_ms / 1000);
  return `${Math.floor(seconds / 60)} min ${String(seconds % 60).padStart(2, '0')} s`;
}

/** A time of the server in the visitor's own words: "3 Dec 2026, 14:30:05". */
export function formatLocalTime(iso: string): string {
  return new Date(iso).toLocaleString(undefined, { dateStyle: 'medium', timeStyle: 'medium' });
}
