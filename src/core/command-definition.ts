// What a command definition declares: the rows the store must load (and lock) before deciding it,
// and the decision itself. The store reads these and never asks what a command is.

import { type DropState, type DropView, isLive } from './drops.ts';
import type { StockholdError } from './errors.ts';
import type { Command, OrderLine, OrderState, SkuState } from './types.ts';
import type { OrderView, SkuView } from './views.ts';
import type { Decision, Workspace } from './workspace.ts';

/** What an accepted command answers. */
export type CommandValue = SkuView | OrderView | DropView;

/** A customer and a limited SKU (max_per_customer) whose units bought or held the decision reads. */
export interface CustomerSku {
  customer_id: string;
  sku: string;
}

/** A customer's ticket of a drop. */
export interface CustomerTicket {
  drop_id: string;
  customer_id: string;
}

/** The rows loaded so far, as a definition reads them to say what else it needs. */
export interface LoadedRows {
  readonly now_ms: number;
  readonly orders: ReadonlyMap<string, OrderState>;
  readonly skus: ReadonlyMap<string, SkuState>;
  /** Drops of the loaded SKUs, once loaded. */
  readonly drops?: ReadonlyMap<string, DropState>;
  /** SKUs a command of the batch may give a max_per_customer: limited for the commands after it. */
  readonly limiting?: ReadonlySet<string>;
}

export interface CommandDefinition<C extends Command> {
  /** Orders to load and lock; loaded first, before any SKU (the one lock order). */
  orders(command: C): readonly string[];
  /** SKUs to load and lock, once the orders of the whole batch are loaded (a pay needs its order's). */
  skus(command: C, loaded: LoadedRows): readonly string[];
  /** Customer/SKU pairs whose usage the decision reads, once the SKUs are loaded. */
  usage(command: C, loaded: LoadedRows): readonly CustomerSku[];
  /**
   * Whether a refusal for want of stock may be decided again after the expired holds of the short
   * SKUs went back to available (lazy reclaim), so availability never waits for the sweeper.
   */
  readonly reclaims_when_short: boolean;
  /**
   * SKUs whose max_per_customer the command may set (a PATCH): a checkout after it in the same batch
   * reads its customer's usage of them, as of a limited SKU. None when absent.
   */
  limits?(command: C): readonly string[];
  decide(workspace: Workspace, command: C): Decision<CommandValue>;
  /** Drops to load besides those of the loaded SKUs (a drop being created, to refuse a second). */
  drops?(command: C): readonly string[];
  /**
   * Drops whose ticket of a customer the decision reads, once the SKUs and their drops are loaded
   * (a checkout of a live drop's SKU). None when absent.
   */
  tickets?(command: C, loaded: LoadedRows): readonly CustomerTicket[];
}

/** Every command kind has a definition: a new kind without one does not compile. */
export type CommandDefinitions = {
  readonly [K in Command['kind']]: CommandDefinition<Extract<Command, { kind: K }>>;
};

/** The lines' SKUs that have a max_per_customer, paired with the customer. */
export function limitedPairs(
  loaded: LoadedRows,
  customer_id: string,
  lines: readonly OrderLine[],
): CustomerSku[] {
  return lines
    .filter(
      (line) =>
        (loaded.skus.get(line.sku)?.max_per_customer ?? null) !== null || loaded.limiting?.has(line.sku),
    )
    .map((line) => ({ customer_id, sku: line.sku }));
}

/** SKUs of a refused decision that were short: where a lazy reclaim of expired holds may help. */
export function shortSkus(error: StockholdError): string[] {
  if (error.code !== 'insufficient_stock') return [];
  const details = error.details as { lines?: { sku: string }[] } | undefined;
  return details?.lines?.map((line) => line.sku) ?? [];
}

/** The customer's tickets of the live drops that govern the lines' SKUs. */
export function liveDropTickets(
  loaded: LoadedRows,
  customer_id: string,
  skus: Iterable<string>,
): CustomerTicket[] {
  const drop_ids = new Set<string>();
  for (const sku of skus) {
    const drop_id = loaded.skus.get(sku)?.drop_id ?? null;
    const drop = drop_id === null ? undefined : loaded.drops?.get(drop_id);
    if (drop !== undefined && isLive(drop, loaded.now_ms)) drop_ids.add(drop.id);
  }
  return [...drop_ids].map((drop_id) => ({ drop_id, customer_id }));
}

export const none = (): readonly never[] => [];
