// Old outbox events are forgotten, but never one the webhook fan-out has not read yet or an open
// delivery still needs (its body is built from the event), and ids are never handed out again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookRepository } from '../../src/store/webhook-repository.ts';
import { rawDatabase } from '../support/raw-database.ts';
import { DIALECTS, openTestStore, type TestStore } from '../support/stores.ts';

const OLD_MS = 1_000;
const RECENT_MS = 10_000;
const PURGE_BEFORE_MS = 5_000;

describe.each(DIALECTS)('the outbox purge on %s', (dialect) => {
  let test_store: TestStore;
  let webhooks: WebhookRepository;

  beforeAll(async () => {
    test_store = await openTestStore(dialect);
    webhooks = test_store.store.webhooks;
  });
  afterAll(() => test_store.dispose());

  const createSkus = (names: string[], now_ms: number) =>
    test_store.store.execute(
      names.map((sku) => ({
        command: { kind: 'create_sku' as const, sku, name: sku, available: 1, max_per_customer: null },
      })),
      now_ms,
    );
  const eventSubjects = async () =>
    (await test_store.store.eventsAfter(0, 100)).map((event) => event.subject_id);
  const finishOpenDeliveries = () =>
    rawDatabase(test_store.store)
      .updateTable('webhook_deliveries')
      .set({ status: 'succeeded' })
      .where('status', 'in', ['pending', 'sending'])
      .execute();

  it('forgets old events only once webhooks are done with them, and never reuses an id', async () => {
    await webhooks.createEndpoint({
      url: 'https://shop.example/hooks',
      secret: 'x'.repeat(32),
      event_types: null,
      now_ms: 0,
    });
    await createSkus(['a', 'b', 'c'], OLD_MS);
    await createSkus(['d', 'e'], RECENT_MS);

    // The fan-out has read a and b; their deliveries are still open.
    expect(await webhooks.fanOut(2, RECENT_MS)).toBe(2);
    expect(await webhooks.purgeOutbox(PURGE_BEFORE_MS, 100)).toBe(0);

    // Delivered: a and b go; c is as old but not read yet.
    await finishOpenDeliveries();
    expect(await webhooks.purgeOutbox(PURGE_BEFORE_MS, 100)).toBe(2);
    expect(await eventSubjects()).toEqual(['c', 'd', 'e']);

    // Everything read and delivered: c goes, the recent d and e stay.
    expect(await webhooks.fanOut(100, RECENT_MS)).toBe(3);
    await finishOpenDeliveries();
    expect(await webhooks.purgeOutbox(PURGE_BEFORE_MS, 100)).toBe(1);
    expect(await eventSubjects()).toEqual(['d', 'e']);

    // Ids go on from the highest ever handed out, even once the oldest are gone.
    const last_id = await test_store.store.lastEventId();
    await createSkus(['f'], RECENT_MS);
    const [newest] = await test_store.store.eventsAfter(last_id, 10);
    expect(newest).toMatchObject({ subject_id: 'f' });
    expect(newest!.id).toBe(last_id + 1);
  });
});
