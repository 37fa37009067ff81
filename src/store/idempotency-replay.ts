// The lookup the rate limiter makes before spending a request's budget: a request sent again with
// the same Idempotency-Key and the same content is a replay, answered from the store for free.
import { Kysely } from 'kysely';
import type { PreparedReads } from './dialect.ts';
import type { Database } from './schema.ts';
import type { Idempotency } from './store.ts';

/**
 * Whether the store holds the answer to this very request (same key, same fingerprint): sent again,
 * it is a replay, answered from that record without doing the work. Through the dialect's prepared
 * read where it has one (every keyed checkout pays this read), else built with Kysely.
 */
export async function isStoredReplay(
  reads: PreparedReads | Kysely<Database>,
  idempotency: Idempotency,
): Promise<boolean> {
  const fingerprint =
    reads instanceof Kysely
      ? (
          await reads
            .selectFrom('idempotency_keys')
            .select('fingerprint')
            .where('key', '=', idempotency.key)
            .executeTakeFirst()
        )?.fingerprint
      : await reads.storedFingerprint(idempotency.key);
  return fingerprint === idempotency.fingerprint;
}
