// extend: moves a held order's deadline later, its holds kept (issue 23). Locks the order and its
// SKUs, though no unit moves: a lapsed hold is expired in the same transaction.

import { type CommandDefinition, none } from './command-definition.ts';
import type { ExtendCommand } from './types.ts';

export const EXTEND: CommandDefinition<ExtendCommand> = {
  orders: (command) => [command.order_id],
  skus: (command, loaded) => loaded.orders.get(command.order_id)?.lines.map((line) => line.sku) ?? [],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.extend(command),
};
