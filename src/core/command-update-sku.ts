// update_sku: a change of one SKU's fields (name, limits, archived), optionally compare-and-set on
// its version. Setting a max_per_customer makes later checkouts of the batch read their usage.

import { type CommandDefinition, none } from './command-definition.ts';
import type { UpdateSkuCommand } from './types.ts';

export const UPDATE_SKU: CommandDefinition<UpdateSkuCommand> = {
  orders: none,
  skus: (command) => [command.sku],
  usage: none,
  reclaims_when_short: false,
  limits: (command) => (command.max_per_customer == null ? [] : [command.sku]),
  decide: (workspace, command) => workspace.updateSku(command),
};
