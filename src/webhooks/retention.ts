// How long webhook deliveries and outbox events are kept, and their purges, which the sweeper runs
// in every server process, whether or not that process delivers webhooks.
import type { RetentionPurge } from '../core/retention.ts';
import type { WebhookRepository } from '../store/webhook-repository.ts';

/** Finished deliveries are kept this long for the deliveries API, then forgotten. */
export const DELIVERY_RETENTION_MS = 7 * 24 * 3600 * 1000;
/**
 * Outbox events are kept this long for event streams resuming with Last-Event-ID, then forgotten
 * (never before webhooks are done with them: WebhookRepository.purgeOutbox).
 */
export const EVENT_RETENTION_MS = 7 * 24 * 3600 * 1000;
/** Rows forgotten per purge transaction: bounded, the next one takes the rest. */
const PURGE_BATCH_SIZE = 1000;
/** Purge transactions per table and run: up to 10,000 rows a minute, 14.4 million a day. */
const PURGE_ROUNDS_MAX = 10;

export function webhookRetentionPurges(webhooks: WebhookRepository): RetentionPurge[] {
  return [
    {
      what: 'finished webhook deliveries',
      purge: (now_ms) =>
        inRounds(() => webhooks.purgeFinished(now_ms - DELIVERY_RETENTION_MS, PURGE_BATCH_SIZE)),
    },
    {
      what: 'outbox events',
      purge: (now_ms) => inRounds(() => webhooks.purgeOutbox(now_ms - EVENT_RETENTION_MS, PURGE_BATCH_SIZE)),
    },
  ];
}

async function inRounds(purgeBatch: () => Promise<number>): Promise<number> {
  let purged = 0;
  for (let round = 0; round < PURGE_ROUNDS_MAX; round++) {
    const count = await purgeBatch();
    purged += count;
    if (count < PURGE_BATCH_SIZE) break;
  }
  return purged;
}
