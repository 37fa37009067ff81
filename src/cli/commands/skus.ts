// stockhold skus: create, read, list, change, archive, count, delete, adjust and follow the ledger of
// SKUs through a running server.
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
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
import { CliError, integerIn, run } from '../common.ts';

const skuArgument = () => new Argument('<sku>', 'the SKU id').argParser(skuId);
const pageSize = integerIn(1, LIMITS.page_size_max);
const delta = (value: string) => {
  const parsed = integerIn(-LIMITS.adjustment_delta_max, LIMITS.adjustment_delta_max)(value);
  if (parsed === 0)
    throw new InvalidArgumentError('must not be 0: a positive delta restocks, a negative one removes');
  return parsed;
};
const signed = (value: number) => (value > 0 ? `+${value}` : String(value));
const expectedVersion = integerIn(0, Number.MAX_SAFE_INTEGER);
/** A number in min..max, or `none` (sent as null: the API clears the field). */
const integerOrNone = (min: number, max: number) => {
  const integer = integerIn(min, max);
  // Not null itself: commander turns a parsed null into ''.
  return (value: string): number | 'none' => (value === 'none' ? 'none' : integer(value));
};
const noneAsNull = (value: number | 'none' | undefined) => (value === 'none' ? null : value);
const skuPath = (sku: string, action = '') => `/v1/skus/${encodeURIComponent(sku)}${action}`;

function printSku(sku: SkuView, options: ApiOptions): void {
  printFields(
    [
      ['sku', sku.sku],
      ['name', sku.name],
      ['available', sku.available],
      ['on_hold', sku.on_hold],
      ['sold', sku.sold],
      ['max_per_customer', sku.max_per_customer],
      ['low_stock_threshold', sku.low_stock_threshold],
      ['archived', sku.archived],
      ['version', sku.version],
      ['updated_at', sku.updated_at],
    ],
    options,
  );
}

export function registerSkus(program: Command): void {
  const skus = program
    .command('skus')
    .description(
      'create, read, list, change, archive, count, delete and adjust SKUs, and read their ledger (through a running server)',
    );
  registerCreate(skus);
  registerGet(skus);
  registerList(skus);
  registerUpdate(skus);
  registerCount(skus);
  registerDelete(skus);
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
      printSku(await callApi<SkuView>(options, 'GET', skuPath(sku)), options);
      return 0;
    }),
  );
}

function registerList(skus: Command): void {
  withApiOptions(
    skus
      .command('list')
      .description('list SKUs by id (archived ones only with --archived)')
      .option('--limit <n>', 'SKUs on this page', pageSize, LIMITS.page_size_default)
      .option('--cursor <cursor>', 'the next page, as the previous one said')
      .option('--archived', 'list archived SKUs too, marked "(archived)"'),
  ).action((options: ApiOptions & { limit: number; cursor?: string; archived?: boolean }) =>
    run(async () => {
      const page = await callApi<Page<SkuView>>(
        options,
        'GET',
        withQuery('/v1/skus', {
          limit: options.limit,
          cursor: options.cursor,
          archived: options.archived ? 'true' : undefined,
        }),
      );
      const rows = page.items.map((sku) => [
        sku.sku,
        sku.available,
        sku.on_hold,
        sku.sold,
        sku.max_per_customer,
        sku.archived ? `${sku.name} (archived)` : sku.name,
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
        const adjusted = await callApi<SkuView>(options, 'POST', skuPath(sku, '/adjustments'), {
          delta: options.delta,
          reason: options.reason,
          expected_available: options.expectedAvailable,
        });
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
        withQuery(skuPath(sku, '/ledger'), {
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

interface UpdateOptions extends ApiOptions {
  name?: string;
  maxPerCustomer?: number | 'none';
  lowStockThreshold?: number | 'none';
  archive?: boolean;
  unarchive?: boolean;
  expectedVersion?: number;
}

/** The PATCH body of the fields given (null clears one); throws a usage error when none is. */
function updateBody(options: UpdateOptions): Record<string, unknown> {
  const fields: Record<string, unknown> = {
    name: options.name,
    max_per_customer: noneAsNull(options.maxPerCustomer),
    low_stock_threshold: noneAsNull(options.lowStockThreshold),
    archived: options.archive ? true : options.unarchive ? false : undefined,
  };
  if (Object.values(fields).every((value) => value === undefined))
    throw new CliError(
      'nothing to change: give --name, --max-per-customer, --low-stock-threshold, --archive or --unarchive',
    );
  return { ...fields, expected_version: options.expectedVersion };
}

function registerUpdate(skus: Command): void {
  withApiOptions(
    skus
      .command('update')
      .description("change a SKU's name, limit or low-stock threshold, or archive it (no new holds)")
      .addArgument(skuArgument())
      .option('--name <name>', 'a display name')
      .option(
        '--max-per-customer <n|none>',
        'units one customer may hold or buy; none: no limit',
        integerOrNone(1, LIMITS.max_per_customer_max),
      )
      .option(
        '--low-stock-threshold <n|none>',
        'sku.low_stock fires when available falls to or below it; none: never',
        integerOrNone(0, LIMITS.low_stock_threshold_max),
      )
      .addOption(
        new Option('--archive', 'refuse new holds; existing holds can still be paid').conflicts('unarchive'),
      )
      .option('--unarchive', 'take new holds again')
      .option(
        '--expected-version <n>',
        'refused with version_conflict unless the SKU is at this version (compare-and-set)',
        expectedVersion,
      ),
    { mutating: true },
  ).action((sku: string, options: UpdateOptions) =>
    run(async () => {
      printSku(await callApi<SkuView>(options, 'PATCH', skuPath(sku), updateBody(options)), options);
      return 0;
    }),
  );
}

function registerCount(skus: Command): void {
  withApiOptions(
    skus
      .command('count')
      .description("record an ERP's count of the unsold units: available becomes unsold - on_hold")
      .addArgument(skuArgument())
      .requiredOption(
        '--unsold <n>',
        'units counted as not yet sold (on hold included)',
        integerIn(0, LIMITS.count_unsold_max),
      )
      .option(
        '--expected-version <n>',
        'refused with version_conflict unless the SKU is at this version (compare-and-set)',
        expectedVersion,
      )
      .option('--reason <text>', 'why, kept in the ledger'),
    { mutating: true },
  ).action(
    (sku: string, options: ApiOptions & { unsold: number; expectedVersion?: number; reason?: string }) =>
      run(async () => {
        const counted = await callApi<SkuView>(options, 'POST', skuPath(sku, '/count'), {
          unsold: options.unsold,
          expected_version: options.expectedVersion,
          reason: options.reason,
        });
        printSku(counted, options);
        return 0;
      }),
  );
}

function registerDelete(skus: Command): void {
  withApiOptions(
    skus
      .command('delete')
      .description('delete a SKU that never had an order or a movement (else archive it)')
      .addArgument(skuArgument()),
    { mutating: true },
  ).action((sku: string, options: ApiOptions) =>
    run(async () => {
      await callApi<null>(options, 'DELETE', skuPath(sku));
      if (!options.json) process.stdout.write(`deleted ${sku}\n`);
      return 0;
    }),
  );
}
