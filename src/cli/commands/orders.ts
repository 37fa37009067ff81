// stockhold orders: check out, read, list, pay (all or part), cancel, extend, change and return
// orders through a running server.
import { Argument, type Command, InvalidArgumentError, Option } from 'commander';
import { LIMITS } from '../../core/limits.ts';
import { ORDER_STATUSES } from '../../core/types.ts';
import type { OrderView } from '../../core/views.ts';
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

const idArgument = () => new Argument('<id>', 'the order id');
const quantity = integerIn(LIMITS.quantity_min, LIMITS.quantity_max);

type Line = { sku: string; quantity: number };

/** Parses each `--line SKU:QTY` and collects them in order (the option repeats). */
function collectLine(value: string, lines: Line[] = []): Line[] {
  const colon = value.lastIndexOf(':');
  if (colon < 0)
    throw new InvalidArgumentError(`a line is SKU:QUANTITY, e.g. tee-red-m:2 (got ${JSON.stringify(value)})`);
  if (lines.length >= LIMITS.lines_per_order_max)
    throw new InvalidArgumentError(`an order has at most ${LIMITS.lines_per_order_max} lines`);
  return [...lines, { sku: skuId(value.slice(0, colon)), quantity: quantity(value.slice(colon + 1)) }];
}

/** `tee x2, mug x1`; null (printed `-`) for no lines, or none given. */
const linesText = (lines: readonly Line[] | undefined) =>
  lines === undefined || lines.length === 0
    ? null
    : lines.map((line) => `${line.sku} x${line.quantity}`).join(', ');

const returnsText = (order: OrderView) =>
  order.returns.length === 0
    ? null
    : order.returns
        .map((each) => `${linesText(each.lines)} ${each.restock ? 'restocked' : 'written off'}`)
        .join('; ');

function printOrder(order: OrderView, options: ApiOptions): void {
  printFields(
    [
      ['id', order.id],
      ['status', order.late ? `${order.status} (late)` : order.status],
      ['customer_id', order.customer_id],
      ['lines', linesText(order.lines)],
      ['created_at', order.created_at],
      ['expires_at', order.expires_at],
      ['extensions', order.extensions],
      ['paid_at', order.paid_at],
      ['payment_id', order.payment_id],
      ['sold_lines', linesText(order.sold_lines)],
      ['released_lines', linesText(order.released_lines)],
      ['returns', returnsText(order)],
    ],
    options,
  );
}

const orderPath = (id: string, action = '') => `/v1/orders/${encodeURIComponent(id)}${action}`;

export function registerOrders(program: Command): void {
  const orders = program
    .command('orders')
    .description(
      'check out, read, list, pay, cancel, extend, change and return orders (through a running server)',
    );
  registerCreate(orders);
  registerGet(orders);
  registerList(orders);
  registerPay(orders);
  registerCancel(orders);
  registerExtend(orders);
  registerChange(orders);
  registerReturn(orders);
}

function registerCreate(orders: Command): void {
  withApiOptions(
    orders
      .command('create')
      .description('check out: hold every line, or none, until the deadline')
      .requiredOption('--customer <id>', 'the customer the order is for')
      .requiredOption('--line <sku:quantity>', 'a line, e.g. tee-red-m:2; repeat for more lines', collectLine)
      .option(
        '--hold-seconds <n>',
        'seconds to pay before the hold expires (default: the server DEFAULT_HOLD_SECONDS)',
        integerIn(LIMITS.hold_seconds_min, LIMITS.hold_seconds_max),
      )
      .option(
        '--admission-token <token>',
        "the customer's admission to a running drop of one of its SKUs (`drops ticket` shows it)",
      ),
    {
      mutating: true,
    },
  ).action(
    (
      options: ApiOptions & {
        customer: string;
        line: { sku: string; quantity: number }[];
        holdSeconds?: number;
        admissionToken?: string;
      },
    ) =>
      run(async () => {
        const order = await callApi<OrderView>(options, 'POST', '/v1/orders', {
          customer_id: options.customer,
          lines: options.line,
          hold_seconds: options.holdSeconds,
          admission_token: options.admissionToken,
        });
        printOrder(order, options);
        return 0;
      }),
  );
}

function registerGet(orders: Command): void {
  withApiOptions(orders.command('get').description('show an order').addArgument(idArgument())).action(
    (id: string, options: ApiOptions) =>
      run(async () => {
        printOrder(await callApi<OrderView>(options, 'GET', orderPath(id)), options);
        return 0;
      }),
  );
}

function registerList(orders: Command): void {
  withApiOptions(
    orders
      .command('list')
      .description('list orders, newest first')
      .addOption(new Option('--status <status>', 'only orders in this state').choices(ORDER_STATUSES))
      .option('--sku <sku>', 'only orders with a line of this SKU', skuId)
      .option('--customer <id>', "only this customer's orders")
      .option(
        '--limit <n>',
        'orders on this page',
        integerIn(1, LIMITS.page_size_max),
        LIMITS.page_size_default,
      )
      .option('--cursor <cursor>', 'the next page, as the previous one said'),
  ).action(
    (
      options: ApiOptions & {
        status?: string;
        sku?: string;
        customer?: string;
        limit: number;
        cursor?: string;
      },
    ) =>
      run(async () => {
        const page = await callApi<Page<OrderView>>(
          options,
          'GET',
          withQuery('/v1/orders', {
            status: options.status,
            sku: options.sku,
            customer_id: options.customer,
            limit: options.limit,
            cursor: options.cursor,
          }),
        );
        const rows = page.items.map((order) => [
          order.id,
          order.status,
          order.customer_id,
          order.expires_at,
          linesText(order.lines),
        ]);
        printPage(page, table(['ID', 'STATUS', 'CUSTOMER', 'EXPIRES_AT', 'LINES'], rows), options);
        return 0;
      }),
  );
}

function registerPay(orders: Command): void {
  withApiOptions(
    orders
      .command('pay')
      .description(
        'record the payment: the held units become sold (with --line, only those; the rest is released)',
      )
      .addArgument(idArgument())
      .requiredOption(
        '--payment-id <id>',
        "the payment provider's id (a replay with the same id is answered the same)",
      )
      .option(
        '--line <sku:quantity>',
        'a partial capture: units sold of a line, at most what is held; repeat for more lines',
        collectLine,
      ),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { paymentId: string; line?: Line[] }) =>
    run(async () => {
      const order = await callApi<OrderView>(options, 'POST', orderPath(id, '/payment'), {
        payment_id: options.paymentId,
        lines: options.line,
      });
      printOrder(order, options);
      return 0;
    }),
  );
}

function registerCancel(orders: Command): void {
  withApiOptions(
    orders
      .command('cancel')
      .description('cancel a pending order: its units return to available')
      .addArgument(idArgument()),
    { mutating: true },
  ).action((id: string, options: ApiOptions) =>
    run(async () => {
      printOrder(await callApi<OrderView>(options, 'POST', orderPath(id, '/cancel')), options);
      return 0;
    }),
  );
}

function registerExtend(orders: Command): void {
  withApiOptions(
    orders
      .command('extend')
      .description(
        "move a held order's deadline later (capped by HOLD_EXTENSIONS_MAX and HOLD_SECONDS_TOTAL_MAX)",
      )
      .addArgument(idArgument())
      .requiredOption(
        '--seconds <n>',
        'how much later the deadline falls',
        integerIn(LIMITS.extension_seconds_min, LIMITS.extension_seconds_max),
      )
      .option('--reason <text>', 'why, kept with the event'),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { seconds: number; reason?: string }) =>
    run(async () => {
      printOrder(
        await callApi<OrderView>(options, 'POST', orderPath(id, '/extension'), {
          seconds: options.seconds,
          reason: options.reason,
        }),
        options,
      );
      return 0;
    }),
  );
}

function registerChange(orders: Command): void {
  withApiOptions(
    orders
      .command('change')
      .description(
        "replace a held order's lines: increases are held all or none, decreases released; the deadline stays",
      )
      .addArgument(idArgument())
      .requiredOption(
        '--line <sku:quantity>',
        'a line of the new full set, e.g. tee-red-m:1; repeat for more lines',
        collectLine,
      ),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { line: Line[] }) =>
    run(async () => {
      printOrder(await callApi<OrderView>(options, 'PATCH', orderPath(id), { lines: options.line }), options);
      return 0;
    }),
  );
}

function registerReturn(orders: Command): void {
  withApiOptions(
    orders
      .command('return')
      .description('return sold units of a paid order: restocked to available, or written off')
      .addArgument(idArgument())
      .requiredOption('--line <sku:quantity>', 'units returned of a line; repeat for more lines', collectLine)
      .option('--no-restock', 'write the units off (damaged): they leave the stock')
      .option('--reason <text>', 'why, kept in the ledger'),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { line: Line[]; restock: boolean; reason?: string }) =>
    run(async () => {
      printOrder(
        await callApi<OrderView>(options, 'POST', orderPath(id, '/returns'), {
          lines: options.line,
          restock: options.restock,
          reason: options.reason,
        }),
        options,
      );
      return 0;
    }),
  );
}
