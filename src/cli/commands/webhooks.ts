// stockhold webhooks redeliver: puts failed webhook deliveries back in the queue, in the database;
// the delivery workers of the running servers send them. What an operator does after an outage of
// a receiver that outlasted the retries.
import type { Command } from 'commander';
import {
  CliError,
  configFrom,
  type DatabaseOptions,
  integerIn,
  openDatabase,
  run,
  withDatabaseOptions,
} from '../common.ts';

/** Deliveries one `--all-failed` run queues at most; each transaction queues a thousand. */
const ALL_FAILED_MAX = 100_000;
const BATCH_SIZE = 1000;

interface RedeliverOptions extends DatabaseOptions {
  allFailed?: boolean;
  limit: number;
}

export function registerWebhooks(program: Command): void {
  const webhooks = program.command('webhooks').description('webhook deliveries: redeliver failed ones');

  withDatabaseOptions(
    webhooks
      .command('redeliver')
      .description(
        'redeliver a failed delivery of an endpoint (one more attempt, now), or with --all-failed every failed one, oldest event first',
      )
      .argument('<endpoint-id>')
      .argument('[delivery-id]')
      .option(
        '--all-failed',
        'every failed delivery of the endpoint (see GET /v1/webhooks/{id}/deliveries?status=failed)',
      )
      .option(
        '--limit <count>',
        `with --all-failed: at most this many (1..${ALL_FAILED_MAX})`,
        integerIn(1, ALL_FAILED_MAX),
        ALL_FAILED_MAX,
      ),
  ).action((endpoint_id: string, delivery_id: string | undefined, options: RedeliverOptions) =>
    run(async () => {
      if ((delivery_id === undefined) === (options.allFailed !== true))
        throw new CliError('give either a delivery id or --all-failed');
      const { WEBHOOK_ATTEMPTS_MAX } = await configFrom(options);
      const store = await openDatabase(options);
      try {
        const deliveries = store.webhooks;
        if (delivery_id !== undefined) {
          const { outcome, delivery } = await deliveries.redeliver(
            endpoint_id,
            delivery_id,
            Date.now(),
            WEBHOOK_ATTEMPTS_MAX,
          );
          if (outcome === 'not_found' || !delivery)
            throw new CliError(`webhook delivery ${delivery_id} of endpoint ${endpoint_id} does not exist`);
          if (outcome === 'not_failed')
            throw new CliError(
              `webhook delivery ${delivery_id} is ${delivery.status}: only a failed delivery is redelivered`,
              1,
            );
          const what = `delivery ${delivery.id} (event ${delivery.event_id}, ${delivery.event_type}) of endpoint ${endpoint_id}`;
          process.stdout.write(
            outcome === 'queued'
              ? `queued ${what} for redelivery\n`
              : `${what} is already queued for redelivery (${delivery.status})\n`,
          );
          return 0;
        }
        let queued = 0;
        for (let batch = 0; queued < options.limit && batch < ALL_FAILED_MAX / BATCH_SIZE; batch++) {
          const asked = Math.min(BATCH_SIZE, options.limit - queued);
          const count = await deliveries.redeliverFailed(endpoint_id, Date.now(), asked);
          if (count === null) throw new CliError(`webhook endpoint ${endpoint_id} does not exist`);
          queued += count;
          if (count < asked) break;
        }
        process.stdout.write(
          `queued ${queued} failed deliveries of endpoint ${endpoint_id} for redelivery\n`,
        );
        return 0;
      } finally {
        await store.close();
      }
    }),
  );
}
