// Shared by the security tests: keys of every scope in a database, and a request that can stop
// reading a stream (the event stream never ends).

import { rmSync } from 'node:fs';
import { loadConfig } from '../../src/config.ts';
import type { ApiScope } from '../../src/core/api-keys.ts';
import type { DialectName } from '../../src/store/migrations.ts';
import { openStore } from '../../src/store/open-store.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { temporarySqliteUrl } from '../support/server.ts';

export interface TestKeys {
  admin: string;
  checkout: string;
  other_checkout: string;
  read: string;
  revoked: string;
}

/** Creates one key per scope, a second checkout key and a revoked admin key in the database. */
export async function createTestKeys(database_url: string): Promise<TestKeys> {
  const store = await openStore(loadConfig({ DATABASE_URL: database_url }, undefined));
  try {
    await store.migrate();
    const repository = store.api_keys;
    const make = async (scope: ApiScope, name: string) =>
      (await repository.create({ scope, name, now_ms: Date.now() })).key;
    const keys = {
      admin: await make('admin', 'ops'),
      checkout: await make('checkout', 'storefront'),
      other_checkout: await make('checkout', 'other storefront'),
      read: await make('read', 'analytics'),
      revoked: await make('admin', 'former ops'),
    };
    const revoked = (await repository.list()).find((record) => record.name === 'former ops')!;
    await repository.revoke(revoked.id, Date.now());
    return keys;
  } finally {
    await store.close();
  }
}

export const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

/** One request; the body is read only for error answers (a 200 event stream is left unread). */
export async function probe(
  base_url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
): Promise<{ status: number; code: string | undefined; headers: Headers }> {
  const controller = new AbortController();
  const response = await fetch(`${base_url}${path}`, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: controller.signal,
  });
  let code: string | undefined;
  if (response.status >= 400) code = ((await response.json()) as { error: { code: string } }).error.code;
  controller.abort();
  return { status: response.status, code, headers: response.headers };
}

/** Runs `work` on a new database of the dialect (a SQLite file or a PostgreSQL database), removed after. */
export async function onNewDatabase(dialect: DialectName, work: (database_url: string) => Promise<void>) {
  if (dialect === 'sqlite') {
    const { url, directory } = temporarySqliteUrl();
    try {
      await work(url);
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
    return;
  }
  const database = await createTestDatabase();
  try {
    await work(database.url);
  } finally {
    await database.drop();
  }
}
