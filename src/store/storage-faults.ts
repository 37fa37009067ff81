// A database that went away (PostgreSQL stopped, failed over or its sessions killed; the SQLite
// file's disk full or failing): how such an error is recognised on either store, the answer it gets
// (503 storage_unavailable with Retry-After), and the episodes that log it once, back off and notice
// the recovery. Nothing here is an error of the request itself: retrying later is the remedy.
import type { Logger } from 'pino';
import { StockholdError } from '../core/errors.ts';

/** What a client is told to wait before retrying: long enough for a failover to finish. */
export const STORAGE_RETRY_AFTER_SECONDS = 2;

/**
 * PostgreSQL error classes and codes that mean the server, not the statement, failed:
 * 08 connection exception, 53 insufficient resources (disk full, too many connections),
 * 57P01..57P05 the session was ended (admin_shutdown: pg_terminate_backend, a fast or immediate
 * stop; crash_shutdown; cannot_connect_now while starting), 58 system error (I/O), and 25006
 * (a read-only transaction: the primary became a standby in a failover).
 */
const POSTGRES_CLASSES = ['08', '53', '58', '57P'];
const POSTGRES_CODES = new Set(['25006']);
/** Node's socket errors: the server is not there, or went away mid-conversation. */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** node-postgres reports a dead connection with messages only, no code. */
const POSTGRES_CLIENT_MESSAGES =
  /^Connection terminated|Client has encountered a connection error and is not queryable/;
/**
 * SQLite: the disk is full, the file cannot be read or written, or has become read-only (moved,
 * remounted). Corruption (SQLITE_CORRUPT) is not here: waiting does not cure it.
 */
const SQLITE_PREFIXES = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_CANTOPEN', 'SQLITE_READONLY'];

function codeOf(error: unknown): string | null {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : null;
}

/** Whether the error says the database is unreachable or cannot store anything now. */
export function isStorageUnavailable(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  if (error instanceof StockholdError) return error.code === 'storage_unavailable';
  const code = codeOf(error);
  if (code !== null) {
    if (SOCKET_CODES.has(code) || POSTGRES_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code) && POSTGRES_CLASSES.some((prefix) => code.startsWith(prefix))) return true;
    if (SQLITE_PREFIXES.some((prefix) => code.startsWith(prefix))) return true;
  }
  if (error instanceof Error && POSTGRES_CLIENT_MESSAGES.test(error.message)) return true;
  // Connecting to a name with several addresses fails with every attempt's error.
  const errors = (error as { errors?: unknown }).errors;
  return Array.isArray(errors) && errors.length > 0 && errors.every(isStorageUnavailable);
}

/** The cause as an operator searches for it: SQLITE_FULL, 57P01, ECONNREFUSED, or the message. */
export function storageFaultCause(error: unknown): string {
  // Our own answer carries the database's error as its cause.
  if (error instanceof StockholdError && error.cause !== undefined) return storageFaultCause(error.cause);
  const code = codeOf(error);
  const message = error instanceof Error ? error.message : String(error);
  return code === null ? message.slice(0, 200) : `${code}: ${message.slice(0, 200)}`;
}

/** The answer to a request that met an outage; `cause` is the database's error, for the log. */
export function storageUnavailableError(
  cause: unknown,
  message = 'the database is unavailable; retry shortly (with the same Idempotency-Key)',
): StockholdError {
  const error = new StockholdError('storage_unavailable', message, {
    retry_after_seconds: STORAGE_RETRY_AFTER_SECONDS,
  });
  error.cause = cause;
  return error;
}

/** Longest pause of a background loop between attempts while the database is away. */
export const OUTAGE_BACKOFF_MAX_MS = 5000;

/** What an outage is logged with: its first failure, and its end. */
export type OutageLogger = Pick<Logger, 'error' | 'info'>;

/**
 * One source's view of outages (the store's request path, the sweeper, the webhook worker...): the
 * first failure of an episode is logged with its cause, the rest are only counted, and the first
 * success after it logs the recovery. A loop waits longer between attempts while it lasts.
 */
export class OutageEpisodes {
  private started_ms: number | null = null;
  private failures = 0;

  constructor(
    /** Who is speaking, in every line: `the store`, `the sweeper`. */
    private readonly source: string,
    private readonly logger: OutageLogger | null = null,
  ) {}

  get down(): boolean {
    return this.started_ms !== null;
  }

  /** Records a failure; returns whether it began an episode (and was logged). */
  failed(error: unknown): boolean {
    this.failures += 1;
    if (this.started_ms !== null) return false;
    this.started_ms = Date.now();
    this.logger?.error(
      { err: error, cause: storageFaultCause(error), source: this.source },
      `${this.source}: the database is unavailable (${storageFaultCause(error)}); retrying until it is back`,
    );
    return true;
  }

  succeeded(): void {
    if (this.started_ms === null) return;
    const outage_ms = Date.now() - this.started_ms;
    this.logger?.info(
      { source: this.source, outage_ms, failures: this.failures },
      `${this.source}: the database is back`,
    );
    this.started_ms = null;
    this.failures = 0;
  }

  /** The pause before a loop's next attempt: its interval, doubled per failure while down, capped. */
  delayMs(interval_ms: number): number {
    if (this.failures === 0) return interval_ms;
    const ceiling = Math.max(interval_ms, OUTAGE_BACKOFF_MAX_MS);
    return Math.min(ceiling, interval_ms * 2 ** Math.min(this.failures, 16));
  }
}
