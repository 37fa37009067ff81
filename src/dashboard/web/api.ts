// Calls the stockhold API with the operator's key (kept in localStorage), asking for one on a 401.
const KEY_STORAGE = 'stockhold.api_key';
const ATTEMPTS_MAX = 3;
/** A local clock within this of the server's Date header is trusted (the header has whole seconds). */
const CLOCK_SKEW_TOLERATED_MS = 1500;

/** An error answer of the API: {"error":{"code","message","details"}}, or a transport failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details?: unknown,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export function storedKey(): string | null {
  try {
    return localStorage.getItem(KEY_STORAGE);
  } catch {
    return null;
  }
}

export function storeKey(key: string | null): void {
  if (key === null || key === '') localStorage.removeItem(KEY_STORAGE);
  else localStorage.setItem(KEY_STORAGE, key);
}

export function authHeaders(): Record<string, string> {
  const key = storedKey();
  return key ? { authorization: `Bearer ${key}` } : {};
}

type KeyPrompt = (reason: string) => Promise<void>;
let prompt: KeyPrompt = async () => {};
let pending_prompt: Promise<void> | null = null;

/** Installs the UI that asks for a key; concurrent 401s share one prompt. */
export function setKeyPrompt(ask: KeyPrompt): void {
  prompt = ask;
}

export function askForKey(reason: string): Promise<void> {
  pending_prompt ??= prompt(reason).finally(() => {
    pending_prompt = null;
  });
  return pending_prompt;
}

let server_clock_offset_ms = 0;

/**
 * Now on the server's clock, as its Date headers tell: countdowns to the server's deadlines use it, so
 * a visitor's wrong clock does not show a wrong time left.
 */
export function serverNowMs(): number {
  return Date.now() + server_clock_offset_ms;
}

function noteServerDate(response: Response): void {
  const date_ms = Date.parse(response.headers.get('date') ?? '');
  if (!Number.isFinite(date_ms)) return;
  // The header is cut to the second: its middle is the best guess. Within the tolerance the local
  // clock is kept, so the countdowns do not jitter by half a second from one answer to the next.
  const offset_ms = date_ms + 500 - Date.now();
  if (Math.abs(offset_ms - server_clock_offset_ms) > CLOCK_SKEW_TOLERATED_MS)
    server_clock_offset_ms = offset_ms;
}

export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const idempotency_key = method === 'POST' ? crypto.randomUUID() : undefined;
  for (let attempt = 1; attempt <= ATTEMPTS_MAX; attempt++) {
    const headers: Record<string, string> = { accept: 'application/json', ...authHeaders() };
    if (body !== undefined) headers['content-type'] = 'application/json';
    // The same key on a retry after a new API key: the server answers the first outcome, never twice.
    if (idempotency_key) headers['idempotency-key'] = idempotency_key;
    let response: Response;
    try {
      response = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
      });
    } catch (error) {
      throw new ApiError(0, 'network_error', `the server did not answer (${(error as Error).message})`);
    }
    noteServerDate(response);
    const text = await response.text();
    let parsed: unknown = null;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      parsed = null;
    }
    if (response.status === 401 && attempt < ATTEMPTS_MAX) {
      await askForKey(errorOf(response.status, parsed, text).message);
      continue;
    }
    if (!response.ok) throw errorOf(response.status, parsed, text);
    return parsed as T;
  }
  throw new ApiError(401, 'unauthorized', 'no valid API key');
}

function errorOf(status: number, parsed: unknown, text: string): ApiError {
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | null)
    ?.error;
  if (error && typeof error.code === 'string') {
    return new ApiError(status, error.code, String(error.message ?? error.code), error.details);
  }
  return new ApiError(status, `http_${status}`, text.slice(0, 200) || `HTTP ${status}`);
}

/** Pages through a list endpoint ({items, next_cursor}), at most `pages_max` pages. */
export async function listAll<T>(
  path: string,
  page_size: number,
  pages_max: number,
  on_page?: (items: T[]) => void,
): Promise<{ items: T[]; complete: boolean }> {
  const items: T[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < pages_max; page++) {
    const separator = path.includes('?') ? '&' : '?';
    const query: string = `${separator}limit=${page_size}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;
    const answer: ListPage<T> = await api<ListPage<T>>('GET', `${path}${query}`);
    items.push(...answer.items);
    on_page?.(answer.items);
    cursor = answer.next_cursor;
    if (!cursor) return { items, complete: true };
  }
  return { items, complete: false };
}

interface ListPage<T> {
  items: T[];
  next_cursor: string | null;
}
