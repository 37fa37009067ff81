// create_drop: puts SKUs behind a waiting room (issue 24). Locks the SKUs (each gets the drop's id)
// and loads the drop of the same id, if any, and the drops the SKUs are in, to refuse a second.

import { type CommandDefinition, none } from './command-definition.ts';
import type { CreateDropCommand } from './types.ts';

export const CREATE_DROP: CommandDefinition<CreateDropCommand> = {
  orders: none,
  skus: (command) => command.skus,
  usage: none,
  drops: (command) => [command.drop_id],
  reclaims_when_short: false,
  decide: (workspace, command) => workspace.createDrop(command),
};
