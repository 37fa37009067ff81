// The CLI's side of the HTTP API, for the commands that work through a running server (it is the one
// writer of a SQLite database): the shared options, one request function, and the plain-text output.
import { type Command, InvalidArgumentError, Option } from 'commander';
import { LIMITS } from '../core/limits.ts';
import { CliError, errorText } from './common.ts';

const DEFAULT_URL = 'http://127.0.0.1:3000';
/** A server that accepts the connection but never answers must not hang the command. */
const REQUEST_TIMEOUT_MS = 30_000;

export interface ApiOptions {
  url: string;
  apiKey?: string;
  json?: boolean;
  idempotencyKey?: string;
}

function serverUrl(value: string): string {
  let parsed: URL;
  try {
    parsed = new URL(value);
  } catch {
    throw new InvalidArgumentError(`not a URL (got ${JSON.stringify(value)}), e.g. ${DEFAULT_URL}`);
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:')
    throw new InvalidArgumentError(`must be an http:// or https:// URL (got ${JSON.stringify(value)})`);
  return value.replace(/\/+$/, '');
}

function idempotencyKey(value: string): string {
  if (value.length < 1 || value.length > LIMITS.idempotency_key_length_max || !/^[\x20-\x7E]+$/.test(value))
    throw new InvalidArgumentError(
      `must be 1..${LIMITS.idempotency_key_length_max} printable ASCII characters`,
    );
  return value;
}

/** A parser for a SKU id argument or option (the API's own rule, refused before any request). */
export function skuId(value: string): string {
  if (!new RegExp(LIMITS.sku_id_pattern).test(value))
    throw new InvalidArgumentError(
      `a sku is 1..${LIMITS.sku_id_length_max} of A-Z a-z 0-9 . _ - (got ${JSON.stringify(value)})`,
    );
  return value;
}

/** Adds --url, --api-key and --json; `mutating` adds --idempotency-key. */
export function withApiOptions(command: Command, { mutating = false } = {}): Command {
  command
    .addOption(
      new Option('--url <url>', 'the stockhold server')
        .env('STOCKHOLD_URL')
        .default(DEFAULT_URL)
        .argParser(serverUrl),
    )
    .addOption(new Option('--api-key <key>', 'sent as Authorization: Bearer <key>').env('STOCKHOLD_API_KEY'))
    .option('--json', "print the API's JSON answer as is");
  if (mutating)
    command.option(
      '--idempotency-key <key>',
      'a retry with the same key and arguments gets the first answer instead of doing it twice',
      idempotencyKey,
    );
  return command;
}

/** A page of a list answer (GET /v1/skus, /v1/orders, a ledger). */
export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

/** A path with query parameters, leaving out the ones not given. */
export function withQuery(path: string, query: Record<string, string | number | undefined>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(query)) if (value !== undefined) search.set(key, String(value));
  const text = search.toString();
  return text === '' ? path : `${path}?${text}`;
}

/**
 * One request to the API. Resolves with the parsed answer of a success (null for 204 No Content,
 * which prints nothing with --json either), and with --json prints it as the server sent it. A refusal throws a CliError (exit 1) naming its code (with --json the error
 * body goes to stdout too); a server that cannot be reached or does not answer, one with exit 2.
 */
export async function callApi<T>(
  options: ApiOptions,
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE',
  path: string,
  body?: unknown,
): Promise<T> {
  const headers: Record<string, string> = { accept: 'application/json' };
  if (body !== undefined) headers['content-type'] = 'application/json';
  if (options.apiKey) headers.authorization = `Bearer ${options.apiKey}`;
  if (options.idempotencyKey !== undefined) headers['idempotency-key'] = options.idempotencyKey;
  let status: number;
  let text: string;
  try {
    const response = await fetch(`${options.url}${path}`, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    status = response.status;
    text = await response.text();
  } catch (error) {
    if ((error as Error).name === 'TimeoutError')
      throw new CliError(`the server at ${options.url} did not answer within ${REQUEST_TIMEOUT_MS / 1000} s`);
    // fetch says only "fetch failed"; the reason (ECONNREFUSED, ENOTFOUND...) is its cause.
    const cause = ((error as Error).cause ?? error) as { code?: string };
    const reason = cause.code ?? errorText(cause);
    throw new CliError(`cannot reach the server at ${options.url} (${reason}): is \`npm start\` running?`);
  }
  if (status === 204) return null as T;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  if (status >= 200 && status < 300 && parsed !== undefined) {
    if (options.json) process.stdout.write(`${text}\n`);
    return parsed as T;
  }
  const error = (parsed as { error?: { code?: unknown; message?: unknown; details?: unknown } } | undefined)
    ?.error;
  if (typeof error?.code !== 'string') {
    // Not the API's error shape: a proxy's page, or something else on that port.
    const excerpt = text.trim().slice(0, 200).replace(/\s+/g, ' ');
    throw new CliError(
      `error http_${status}: the server at ${options.url} answered ${status} without a stockhold error${excerpt ? `: ${excerpt}` : ''}`,
      1,
    );
  }
  if (options.json) process.stdout.write(`${text}\n`);
  let message = `error ${error.code}: ${String(error.message)}`;
  if (error.code === 'unauthorized' && !options.apiKey)
    message += ' (pass --api-key or set STOCKHOLD_API_KEY)';
  if (error.details !== undefined) message += `\n  details: ${JSON.stringify(error.details)}`;
  throw new CliError(message, 1);
}

/** One record as `key: value` lines, keys padded to one column, null as `-` (nothing with --json: callApi printed it). */
export function printFields(fields: [string, unknown][], options: ApiOptions): void {
  if (options.json) return;
  const width = Math.max(...fields.map(([key]) => key.length)) + 2;
  process.stdout.write(fields.map(([key, value]) => `${`${key}:`.padEnd(width)}${value ?? '-'}\n`).join(''));
}

/** A small table: a header row and one row a record, columns padded to their widest cell. */
export function table(headers: string[], rows: unknown[][]): string {
  const cells = [headers, ...rows.map((row) => row.map((value) => String(value ?? '-')))];
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => row[column]?.length ?? 0)));
  return cells
    .map(
      (row) =>
        `${row.map((cell, column) => (column === row.length - 1 ? cell : cell.padEnd(widths[column] ?? 0))).join('  ')}\n`,
    )
    .join('');
}

/** Prints a page of a list: its table, and on stderr how to get the next page. */
export function printPage(page: { next_cursor: string | null }, rendered: string, options: ApiOptions): void {
  if (options.json) return;
  process.stdout.write(rendered);
  if (page.next_cursor !== null) process.stderr.write(`more: add --cursor ${page.next_cursor}\n`);
}
