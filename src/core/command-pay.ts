// pay: sells a pending order's holds, or (late) re-acquires an expired order's lines; the latter
// takes stock again, so it reads the customer's units of the limited SKUs.

import { type CommandDefinition, limitedPairs } from './command-definition.ts';
import type { PayCommand } from './types.ts';
import { ORDER_STATUS } from './types.ts';
import { isPastDeadline } from './workspace.ts';

export const PAY: CommandDefinition<PayCommand> = {
  orders: (command) => [command.order_id],
  skus: (command, loaded) => loaded.orders.get(command.order_id)?.lines.map((line) => line.sku) ?? [],
  usage: (command, loaded) => {
    const order = loaded.orders.get(command.order_id);
    if (order === undefined) return [];
    const late =
      order.status === ORDER_STATUS.expired ||
      (order.status === ORDER_STATUS.pending_payment && isPastDeadline(order, loaded.now_ms));
    return late ? limitedPairs(loaded, order.customer_id, order.lines) : [];
  },
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.pay(command),
};
