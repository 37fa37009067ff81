// Starts the real server (real SQLite file or PostgreSQL database) on a free port for a test.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config.ts';
import type { Clock } from '../../src/core/clock.ts';
import { createLogger } from '../../src/logger.ts';
import { type RunningServer, type ServerOptions, startServer } from '../../src/server.ts';

export interface TestServer extends RunningServer {
  database_url: string;
  /** Stops the server; the database stays for a restart. */
  stop(): Promise<void>;
  /** Stops the server and deletes its temporary database directory. */
  dispose(): Promise<void>;
}

export function temporarySqliteUrl(): { url: string; directory: string } {
  const directory = mkdtempSync(join(tmpdir(), 'stockhold-test-'));
  return { url: `sqlite:${join(directory, 'stockhold.db')}`, directory };
}

export async function startTestServer(
  options: {
    database_url?: string;
    clock?: Clock;
    env?: Record<string, string>;
    sweeper?: boolean;
    plugins?: ServerOptions['plugins'];
    check_target?: ServerOptions['check_target'];
  } = {},
): Promise<TestServer> {
  const temporary = options.database_url ? null : temporarySqliteUrl();
  const database_url = options.database_url ?? temporary!.url;
  const config = loadConfig(
    { PORT: '0', LOG_LEVEL: 'silent', DATABASE_URL: database_url, SWEEP_INTERVAL_MS: '50', ...options.env },
    undefined,
  );
  const server = await startServer(config, {
    clock: options.clock,
    logger: createLogger(config.LOG_LEVEL),
    sweeper: options.sweeper,
    plugins: options.plugins,
    check_target: options.check_target,
  });
  return {
    ...server,
    database_url,
    stop: () => server.close(),
    async dispose() {
      await server.close();
      if (temporary) rmSync(temporary.directory, { recursive: true, force: true });
    },
  };
}

export interface ApiResponse<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

/** A small JSON client over fetch, for tests that talk to the server as a store's backend would. */
export function apiClient(base_url: string) {
  async function call<T>(method: string, path: string, body?: unknown, headers: Record<string, string> = {}) {
    const response = await fetch(`${base_url}${path}`, {
      method,
      headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = text === '' ? null : JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body: parsed as T, headers: response.headers } satisfies ApiResponse<T>;
  }
  return {
    get: <T = any>(path: string, headers?: Record<string, string>) =>
      call<T>('GET', path, undefined, headers),
    post: <T = any>(path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>('POST', path, body, headers),
    raw: <T = any>(method: string, path: string, body?: unknown, headers?: Record<string, string>) =>
      call<T>(method, path, body, headers),
  };
}
