// cancel: returns a pending order's holds to available.

import { type CommandDefinition, none } from './command-definition.ts';
import type { CancelCommand } from './types.ts';

export const CANCEL: CommandDefinition<CancelCommand> = {
  orders: (command) => [command.order_id],
  skus: (command, loaded) => loaded.orders.get(command.order_id)?.lines.map((line) => line.sku) ?? [],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.cancel(command),
};
