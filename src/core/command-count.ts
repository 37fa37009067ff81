// count: an ERP's count of one SKU's unsold units; available becomes the count minus the holds.

import { type CommandDefinition, none } from './command-definition.ts';
import type { CountCommand } from './types.ts';

export const COUNT: CommandDefinition<CountCommand> = {
  orders: none,
  skus: (command) => [command.sku],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.count(command),
};
