// checkout: holds every line of a new order, all or nothing. Reads the customer's units of each
// limited SKU, and may retry after a lazy reclaim when a SKU is short.

import { type CommandDefinition, limitedPairs, none } from './command-definition.ts';
import type { CheckoutCommand } from './types.ts';

export const CHECKOUT: CommandDefinition<CheckoutCommand> = {
  orders: none,
  skus: (command) => command.lines.map((line) => line.sku),
  usage: (command, loaded) => limitedPairs(loaded, command.customer_id, command.lines),
  reclaims_when_short: true,
  decide: (workspace, command) => workspace.checkout(command),
};
