// change_order: replaces a held order's lines (issue 23). Needs the SKUs of its old and new lines,
// the customer's units of the new lines' limited SKUs, and may retry after a lazy reclaim.

import { type CommandDefinition, limitedPairs, liveDropTickets } from './command-definition.ts';
import type { ChangeOrderCommand } from './types.ts';

export const CHANGE_ORDER: CommandDefinition<ChangeOrderCommand> = {
  orders: (command) => [command.order_id],
  skus: (command, loaded) => [
    ...(loaded.orders.get(command.order_id)?.lines.map((line) => line.sku) ?? []),
    ...command.lines.map((line) => line.sku),
  ],
  usage: (command, loaded) => {
    const order = loaded.orders.get(command.order_id);
    return order === undefined ? [] : limitedPairs(loaded, order.customer_id, command.lines);
  },
  tickets: (command, loaded) => {
    const order = loaded.orders.get(command.order_id);
    return order === undefined
      ? []
      : liveDropTickets(
          loaded,
          order.customer_id,
          command.lines.map((line) => line.sku),
        );
  },
  reclaims_when_short: true,
  decide: (workspace, command) => workspace.changeOrder(command),
};
