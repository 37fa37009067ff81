// The registry of command definitions, and what a batch of commands needs, as the store asks it:
// orders to lock, then SKUs, then usage pairs, each for the whole batch (one statement each).

import { ADJUST } from './command-adjust.ts';
import { CANCEL } from './command-cancel.ts';
import { CHANGE_ORDER } from './command-change-order.ts';
import { CHECKOUT } from './command-checkout.ts';
import { COUNT } from './command-count.ts';
import { CREATE_DROP } from './command-create-drop.ts';
import { CREATE_SKU } from './command-create-sku.ts';
import type {
  CommandDefinition,
  CommandDefinitions,
  CommandValue,
  CustomerSku,
  CustomerTicket,
  LoadedRows,
} from './command-definition.ts';
import { DELETE_SKU } from './command-delete-sku.ts';
import { EXTEND } from './command-extend.ts';
import { PAY } from './command-pay.ts';
import { RETURN } from './command-return.ts';
import { UPDATE_SKU } from './command-update-sku.ts';
import { ticketKey } from './drops.ts';
import type { Command } from './types.ts';
import { type Decision, usageKey, type Workspace } from './workspace.ts';

export type {
  CommandDefinition,
  CommandValue,
  CustomerSku,
  CustomerTicket,
  LoadedRows,
} from './command-definition.ts';
export { shortSkus } from './command-definition.ts';

export const COMMANDS: CommandDefinitions = {
  create_drop: CREATE_DROP,
  create_sku: CREATE_SKU,
  adjust: ADJUST,
  checkout: CHECKOUT,
  pay: PAY,
  cancel: CANCEL,
  extend: EXTEND,
  change_order: CHANGE_ORDER,
  return: RETURN,
  update_sku: UPDATE_SKU,
  count: COUNT,
  delete_sku: DELETE_SKU,
};

/** The definition of a command's kind. */
export function definitionOf<C extends Command>(command: C): CommandDefinition<C> {
  // The registry's type pairs each kind with its definition; TypeScript cannot follow that pairing
  // through an index by a union, hence the one cast.
  return COMMANDS[command.kind] as unknown as CommandDefinition<C>;
}

/** Orders the batch needs, each once, in id order (the lock order). */
export function ordersNeeded(commands: readonly Command[]): string[] {
  return [...new Set(commands.flatMap((command) => definitionOf(command).orders(command)))].sort();
}

/** SKUs the batch needs, each once, in id order (the lock order), given the batch's orders. */
export function skusNeeded(commands: readonly Command[], loaded: LoadedRows): string[] {
  return [...new Set(commands.flatMap((command) => definitionOf(command).skus(command, loaded)))].sort();
}

/** Customer/SKU pairs whose usage the batch reads, each once, given its orders and SKUs. */
export function usageNeeded(commands: readonly Command[], loaded: LoadedRows): CustomerSku[] {
  const limiting = new Set(commands.flatMap((command) => definitionOf(command).limits?.(command) ?? []));
  const rows: LoadedRows = { now_ms: loaded.now_ms, orders: loaded.orders, skus: loaded.skus, limiting };
  const pairs = new Map<string, CustomerSku>();
  for (const command of commands) {
    for (const pair of definitionOf(command).usage(command, rows)) {
      pairs.set(usageKey(pair.customer_id, pair.sku), pair);
    }
  }
  return [...pairs.values()];
}

/** Drops the batch names itself (besides those of its SKUs), each once. */
export function dropsNeeded(commands: readonly Command[]): string[] {
  return [...new Set(commands.flatMap((command) => definitionOf(command).drops?.(command) ?? []))].sort();
}

/** Customers' tickets the batch reads, each once, given its SKUs and their drops. */
export function ticketsNeeded(commands: readonly Command[], loaded: LoadedRows): CustomerTicket[] {
  const pairs = new Map<string, CustomerTicket>();
  for (const command of commands) {
    for (const pair of definitionOf(command).tickets?.(command, loaded) ?? []) {
      pairs.set(ticketKey(pair.drop_id, pair.customer_id), pair);
    }
  }
  return [...pairs.values()];
}

export function decide(workspace: Workspace, command: Command): Decision<CommandValue> {
  const decision = definitionOf(command).decide(workspace, command);
  workspace.settleStockEvents();
  return decision;
}
