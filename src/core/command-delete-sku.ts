// delete_sku: removes a SKU whose ledger holds its creation only (no order, no movement, no change).

import { type CommandDefinition, none } from './command-definition.ts';
import type { DeleteSkuCommand } from './types.ts';

export const DELETE_SKU: CommandDefinition<DeleteSkuCommand> = {
  orders: none,
  skus: (command) => [command.sku],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.deleteSku(command),
};
