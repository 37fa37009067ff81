// checkout: holds every line of a new order, all or nothing. Reads the customer's units of each
// limited SKU and its ticket of a live drop of its SKUs, and may retry after a lazy reclaim when a SKU is short.

import { type CommandDefinition, limitedPairs, liveDropTickets, none } from './command-definition.ts';
import type { CheckoutCommand } from './types.ts';

export const CHECKOUT: CommandDefinition<CheckoutCommand> = {
  orders: none,
  skus: (command) => command.lines.map((line) => line.sku),
  usage: (command, loaded) => limitedPairs(loaded, command.customer_id, command.lines),
  tickets: (command, loaded) =>
    liveDropTickets(
      loaded,
      command.customer_id,
      command.lines.map((line) => line.sku),
    ),
  reclaims_when_short: true,
  decide: (workspace, command) => workspace.checkout(command),
};
