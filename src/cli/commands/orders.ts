// stockhold orders: check out, read, list, pay and cancel orders through a running server.
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

/** Parses each `--line SKU:QTY` and collects them in order (the option repeats). */
function collectLine(value: string, lines: { sku: string; quantity: number }[] = []) {
  const colon = value.lastIndexOf(':');
  if (colon < 0)
    throw new InvalidArgumentError(`a line is SKU:QUANTITY, e.g. tee-red-m:2 (got ${JSON.stringify(value)})`);
  if (lines.length >= LIMITS.lines_per_order_max)
    throw new InvalidArgumentError(`an order has at most ${LIMITS.lines_per_order_max} lines`);
  return [...lines, { sku: skuId(value.slice(0, colon)), quantity: quantity(value.slice(colon + 1)) }];
}

const linesText = (order: OrderView) => order.lines.map((line) => `${line.sku} x${line.quantity}`).join(', ');

function printOrder(order: OrderView, options: ApiOptions): void {
  printFields(
    [
      ['id', order.id],
      ['status', order.late ? `${order.status} (late)` : order.status],
      ['customer_id', order.customer_id],
      ['lines', linesText(order)],
      ['created_at', order.created_at],
      ['expires_at', order.expires_at],
      ['paid_at', order.paid_at],
      ['payment_id', order.payment_id],
    ],
    options,
  );
}

export function registerOrders(program: Command): void {
  const orders = program
    .command('orders')
    .description('check out, read, list, pay and cancel orders (through a running server)');
  registerCreate(orders);
  registerGet(orders);
  registerList(orders);
  registerPay(orders);
  registerCancel(orders);
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
      },
    ) =>
      run(async () => {
        const order = await callApi<OrderView>(options, 'POST', '/v1/orders', {
          customer_id: options.customer,
          lines: options.line,
          hold_seconds: options.holdSeconds,
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
        printOrder(await callApi<OrderView>(options, 'GET', `/v1/orders/${encodeURIComponent(id)}`), options);
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
          linesText(order),
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
      .description('record the payment: the held units become sold')
      .addArgument(idArgument())
      .requiredOption(
        '--payment-id <id>',
        "the payment provider's id (a replay with the same id is answered the same)",
      ),
    { mutating: true },
  ).action((id: string, options: ApiOptions & { paymentId: string }) =>
    run(async () => {
      const order = await callApi<OrderView>(
        options,
        'POST',
        `/v1/orders/${encodeURIComponent(id)}/payment`,
        {
          payment_id: options.paymentId,
        },
      );
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
      printOrder(
        await callApi<OrderView>(options, 'POST', `/v1/orders/${encodeURIComponent(id)}/cancel`),
        options,
      );
      return 0;
    }),
  );
}
