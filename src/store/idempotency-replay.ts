// The lookup the rate limiter makes before spending a request's budget: a request sent again with
// the same Idempotency-Key and the same content is a replay, answered from the store for free.
import type { Kysely } from 'kysely';
import type { Database } from './schema.ts';
import type { Idempotency } from './store.ts';

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
