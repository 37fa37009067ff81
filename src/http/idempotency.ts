// Reads the Idempotency-Key header and fingerprints what the request asks for.
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Kysely } from 'kysely';
import stringify from 'safe-stable-stringify';
import type { Database } from '../store/schema.ts';
import type { Idempotency } from '../store/store.ts';

export function idempotencyOf(request: FastifyRequest): Idempotency | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  // Same key, same route, same parameters and body (key order ignored) means the same request.
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url ?? request.url}\n`)
    .update(`${stringify(request.params ?? {})}\n${stringify(request.body ?? null)}`)
    .digest('base64url');
  // Each API key has its own key space: another key's Idempotency-Key never replays its answer.
  return { key: request.api_key ? `${request.api_key.id}/${key}` : key, fingerprint };
}

/**
 * Whether `db` holds the answer to this very request (same key, same fingerprint): sent again, it
 * is a replay, answered from that record without doing the work.
 */
export async function isStoredReplay(db: Kysely<Database>, idempotency: Idempotency): Promise<boolean> {
  const stored = await db
    .selectFrom('idempotency_keys')
    .select('fingerprint')
    .where('key', '=', idempotency.key)
    .executeTakeFirst();
  return stored?.fingerprint === idempotency.fingerprint;
}
