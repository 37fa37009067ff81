// What GET /v1/drops and GET /v1/drops/{id}/tickets/{ticket} answer (docs/drops.md), and the
// formatting the waiting page and the dashboard's Drops panel share.
export type DropStatus = 'open' | 'running' | 'sold_out' | 'over';
export type TicketStatus = 'waiting' | 'admitted' | 'used' | 'expired' | 'sold_out';

export interface DropView {
  id: string;
  skus: string[];
  status: DropStatus;
  starts_at: string;
  ends_at: string | null;
  admission_per_second: number;
  admission_seconds: number;
  max_per_customer: number | null;
  created_at: string;
  sold_out_at: string | null;
  counts: {
    tickets: number;
    waiting: number;
    admitted: number;
    used: number;
    expired: number;
    sold_out: number;
  };
  admitted_through: number;
  admitted_last_10s: number;
  time_to_admission_ms: { p50: number | null; p99: number | null };
}

export interface TicketView {
  id: string;
  drop_id: string;
  customer_id: string;
  status: TicketStatus;
  position: number | null;
  ahead: number | null;
  estimated_wait_seconds: number | null;
  joined_at: string;
  admitted_at: string | null;
  admission_token: string | null;
  admission_expires_at: string | null;
  order_id: string | null;
}

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
