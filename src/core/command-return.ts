// return: gives back units of a paid order, restocked or written off (issue 23). Needs the SKUs the
// order sold; a line naming another SKU is refused before any SKU is read.

import { type CommandDefinition, none } from './command-definition.ts';
import type { ReturnCommand } from './types.ts';

export const RETURN: CommandDefinition<ReturnCommand> = {
  orders: (command) => [command.order_id],
  skus: (command, loaded) => loaded.orders.get(command.order_id)?.lines.map((line) => line.sku) ?? [],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.returnUnits(command),
};
