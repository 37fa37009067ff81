// adjust: a restock or a correction of one SKU's available units.

import { type CommandDefinition, none } from './command-definition.ts';
import type { AdjustCommand } from './types.ts';

export const ADJUST: CommandDefinition<AdjustCommand> = {
  orders: none,
  skus: (command) => [command.sku],
  usage: none,
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.adjust(command),
};
