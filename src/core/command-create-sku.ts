// create_sku: a new SKU with its first stock. Needs its own row (to refuse one that exists).

import { type CommandDefinition, none } from './command-definition.ts';
import type { CreateSkuCommand } from './types.ts';

export const CREATE_SKU: CommandDefinition<CreateSkuCommand> = {
  orders: none,
  skus: (command) => [command.sku],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.createSku(command),
};
