// stockhold skus: create, read, list, adjust and follow the ledger of SKUs through a running server.
import { Argument, type Command, InvalidArgumentError } from 'commander';
import { LIMITS } from '../../core/limits.ts';
import type { LedgerEntryView, SkuView } from '../../core/views.ts';
import {
  type ApiOptions,
  callApi,
  type Page,
  printFields,
  printPage,
  skuId,
  table,
  withApiOptions,
  withQuery,
} from '../api.ts';
import { integerIn, run } from '../common.ts';

const skuArgument = () => new Argument('<sku>', 'the SKU id').argParser(skuId);
const pageSize = integerIn(1, LIMITS.page_size_max);
const delta = (value: string) => {
  const parsed = integerIn(-LIMITS.adjustment_delta_max, LIMITS.adjustment_delta_max)(value);
  if (parsed === 0)
    throw new InvalidArgumentError('must not be 0: a positive delta restocks, a negative one removes');
  return parsed;
};
const signed = (value: number) => (value > 0 ? `+${value}` : String(value));

function printSku(sku: SkuView, options: ApiOptions): void {
  printFields(
    [
      ['sku', sku.sku],
      ['name', sku.name],
      ['available', sku.available],
      ['on_hold', sku.on_hold],
      ['sold', sku.sold],
      ['max_per_customer', sku.max_per_customer],
      ['updated_at', sku.updated_at],
    ],
    options,
  );
}

export function registerSkus(program: Command): void {
  const skus = program
    .command('skus')
    .description('create, read, list and adjust SKUs, and read their ledger (through a running server)');
  registerCreate(skus);
  registerGet(skus);
  registerList(skus);
  registerAdjust(skus);
  registerLedger(skus);
}

function registerCreate(skus: Command): void {
  withApiOptions(
    skus
      .command('create')
      .description('create a SKU')
      .addArgument(skuArgument())
      .option(
        '--available <n>',
        'units on sale from the start',
        integerIn(0, LIMITS.initial_available_max),
        0,
      )
      .option('--name <name>', 'a display name (default: the sku)')
      .option(
        '--max-per-customer <n>',
        'units one customer may hold or buy (default: no limit)',
        integerIn(1, LIMITS.max_per_customer_max),
      ),
    {
      mutating: true,
    },
  ).action(
    (sku: string, options: ApiOptions & { available: number; name?: string; maxPerCustomer?: number }) =>
      run(async () => {
        const created = await callApi<SkuView>(options, 'POST', '/v1/skus', {
          sku,
          name: options.name,
          available: options.available,
          max_per_customer: options.maxPerCustomer,
        });
        printSku(created, options);
        return 0;
      }),
  );
}

function registerGet(skus: Command): void {
  withApiOptions(
    skus.command('get').description('show a SKU and its three buckets').addArgument(skuArgument()),
  ).action((sku: string, options: ApiOptions) =>
    run(async () => {
      printSku(await callApi<SkuView>(options, 'GET', `/v1/skus/${encodeURIComponent(sku)}`), options);
      return 0;
    }),
  );
}

function registerList(skus: Command): void {
  withApiOptions(
    skus
      .command('list')
      .description('list SKUs by id')
      .option('--limit <n>', 'SKUs on this page', pageSize, LIMITS.page_size_default)
      .option('--cursor <cursor>', 'the next page, as the previous one said'),
  ).action((options: ApiOptions & { limit: number; cursor?: string }) =>
    run(async () => {
      const page = await callApi<Page<SkuView>>(
        options,
        'GET',
        withQuery('/v1/skus', { limit: options.limit, cursor: options.cursor }),
      );
      const rows = page.items.map((sku) => [
        sku.sku,
        sku.available,
        sku.on_hold,
        sku.sold,
        sku.max_per_customer,
        sku.name,
      ]);
      printPage(
        page,
        table(['SKU', 'AVAILABLE', 'ON_HOLD', 'SOLD', 'MAX_PER_CUSTOMER', 'NAME'], rows),
        options,
      );
      return 0;
    }),
  );
}

function registerAdjust(skus: Command): void {
  withApiOptions(
    skus
      .command('adjust')
      .description('restock (positive delta) or remove units (negative) from available')
      .addArgument(skuArgument())
      .requiredOption('--delta <n>', 'units to add (e.g. 50) or remove (e.g. -5)', delta)
      .option('--reason <text>', 'why, kept in the ledger')
      .option(
        '--expected-available <n>',
        'refused with version_conflict unless available is exactly this (compare-and-set)',
        integerIn(0, Number.MAX_SAFE_INTEGER),
      ),
    { mutating: true },
  ).action(
    (sku: string, options: ApiOptions & { delta: number; reason?: string; expectedAvailable?: number }) =>
      run(async () => {
        const adjusted = await callApi<SkuView>(
          options,
          'POST',
          `/v1/skus/${encodeURIComponent(sku)}/adjustments`,
          {
            delta: options.delta,
            reason: options.reason,
            expected_available: options.expectedAvailable,
          },
        );
        printSku(adjusted, options);
        return 0;
      }),
  );
}

function registerLedger(skus: Command): void {
  withApiOptions(
    skus
      .command('ledger')
      .description("every movement of a SKU's stock, oldest first")
      .addArgument(skuArgument())
      .option('--limit <n>', 'entries on this page', pageSize, LIMITS.page_size_default)
      .option('--cursor <cursor>', 'the next page, as the previous one said')
      .option('--newest', 'newest first'),
  ).action((sku: string, options: ApiOptions & { limit: number; cursor?: string; newest?: boolean }) =>
    run(async () => {
      const page = await callApi<Page<LedgerEntryView>>(
        options,
        'GET',
        withQuery(`/v1/skus/${encodeURIComponent(sku)}/ledger`, {
          limit: options.limit,
          cursor: options.cursor,
          order: options.newest ? 'newest' : undefined,
        }),
      );
      const rows = page.items.map((entry) => [
        entry.seq,
        entry.at,
        entry.kind,
        `${signed(entry.delta_available)}/${signed(entry.delta_on_hold)}/${signed(entry.delta_sold)}`,
        `${entry.available_after}/${entry.on_hold_after}/${entry.sold_after}`,
        entry.order_id,
        entry.reason,
      ]);
      printPage(
        page,
        table(['SEQ', 'AT', 'KIND', 'DELTA (AVAIL/HOLD/SOLD)', 'AFTER', 'ORDER', 'REASON'], rows),
        options,
      );
      return 0;
    }),
  );
}
