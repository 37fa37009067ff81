// A small flash sale for the simulator's tests: big enough that demand beats the hot stock and
// payments race, small enough to replay in a few seconds.
import { DEFAULT_PARAMETERS, type SimulationParameters } from '../../src/simulate/script.ts';

export const SMALL_SALE: SimulationParameters = {
  ...DEFAULT_PARAMETERS,
  seed: 42,
  shoppers: 200,
  skus: 6,
  hot_skus: 2,
  hot_stock: 12,
  cold_stock: 100,
  arrival_mean_seconds: 30,
  hold_seconds: 60,
  payment_median_seconds: 15,
};

/** A whole simulated sale runs real servers and databases: on a loaded 2-core machine it can take
 * far longer than a unit test, so these tests get more time (a limit, not an assertion on speed). */
export const SIMULATION_TIMEOUT_MS = 180_000;
