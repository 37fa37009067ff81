// The shopper script is a pure function of its parameters: a seed replays the same sale exactly.
import { describe, expect, it } from 'vitest';
import { eventsBySecond } from '../../src/simulate/runner.ts';
import { DEFAULT_PARAMETERS, generateScript, validateParameters } from '../../src/simulate/script.ts';
import { SMALL_SALE } from './support.ts';

describe('the shopper script', () => {
  it('is the same for the same seed, shopper by shopper', () => {
    expect(generateScript(DEFAULT_PARAMETERS)).toEqual(generateScript({ ...DEFAULT_PARAMETERS }));
  });

  it('differs for a different seed', () => {
    const one = generateScript(SMALL_SALE).shoppers;
    const other = generateScript({ ...SMALL_SALE, seed: SMALL_SALE.seed + 1 }).shoppers;
    expect(other).not.toEqual(one);
  });

  it('puts a burst at 00:00, mostly on the hot SKUs, with abandons, cancels and late payers', () => {
    const script = generateScript(DEFAULT_PARAMETERS);
    const { shoppers, skus } = script;
    const hot = new Set(skus.filter((sku) => sku.hot).map((sku) => sku.sku));
    expect(skus).toHaveLength(DEFAULT_PARAMETERS.skus);
    expect(hot.size).toBe(DEFAULT_PARAMETERS.hot_skus);
    const at_midnight = shoppers.filter((shopper) => shopper.arrival_s === 0).length;
    expect(at_midnight / shoppers.length).toBeGreaterThan(0.4);
    const wants_hot = shoppers.filter((shopper) => hot.has(shopper.lines[0]!.sku)).length;
    expect(wants_hot / shoppers.length).toBeGreaterThan(0.6);
    const intents = new Set(shoppers.map((shopper) => shopper.intent));
    expect([...intents].sort()).toEqual(['abandon', 'cancel', 'pay', 'pay_late']);
    for (const shopper of shoppers) {
      if (shopper.intent === 'pay' || shopper.intent === 'cancel')
        expect(shopper.action_delay_s).toBeLessThan(DEFAULT_PARAMETERS.hold_seconds);
      if (shopper.intent === 'pay_late')
        expect(shopper.action_delay_s).toBeGreaterThan(DEFAULT_PARAMETERS.hold_seconds);
      if (shopper.intent === 'abandon') expect(shopper.action_delay_s).toBeNull();
      else expect(shopper.action_delay_s).toBeGreaterThanOrEqual(1);
    }
  });

  it('lets a share of the slow payers ask once for more time before their deadline, leaving the rest of the sale as it was', () => {
    const never = generateScript({ ...SMALL_SALE, extend_share: 0 });
    const always = generateScript({ ...SMALL_SALE, extend_share: 1 });
    const half = generateScript(SMALL_SALE);
    const without_extensions = (script: typeof half) =>
      script.shoppers.map(({ extend_delay_s: _, ...shopper }) => shopper);
    expect(without_extensions(always)).toEqual(without_extensions(never));
    expect(without_extensions(half)).toEqual(without_extensions(never));
    expect(never.shoppers.every((shopper) => shopper.extend_delay_s === null)).toBe(true);
    const late = always.shoppers.filter((shopper) => shopper.intent === 'pay_late');
    expect(late.length).toBeGreaterThan(0);
    for (const shopper of always.shoppers) {
      if (shopper.intent !== 'pay_late') expect(shopper.extend_delay_s).toBeNull();
      else {
        expect(shopper.extend_delay_s).toBeGreaterThanOrEqual(1);
        expect(shopper.extend_delay_s).toBeLessThan(SMALL_SALE.hold_seconds);
      }
    }
    const asking = half.shoppers.filter((shopper) => shopper.extend_delay_s !== null).length;
    expect(asking).toBeGreaterThan(0);
    expect(asking).toBeLessThan(late.length);
  });

  it('schedules every shopper action after that shopper checked out', () => {
    const script = generateScript(SMALL_SALE);
    const checkout_second = new Map<number, number>();
    for (const [second, events] of [...eventsBySecond(script)].sort(([a], [b]) => a - b)) {
      for (const event of events) {
        if (event.kind === 'checkout') checkout_second.set(event.shopper, second);
        else expect(checkout_second.get(event.shopper)).toBeLessThan(second);
      }
    }
  });

  it('refuses parameters out of range, naming them', () => {
    expect(validateParameters({ ...DEFAULT_PARAMETERS, shoppers: 0, abandon_share: 1.5 })).toEqual([
      'shoppers must be an integer in 1..200000 (got 0)',
      'abandon_share must be a share in 0..1 (got 1.5)',
      'abandon_share + cancel_share + late_share must not exceed 1',
    ]);
    expect(() => generateScript({ ...DEFAULT_PARAMETERS, hot_skus: 30 })).toThrow(/hot_skus/);
  });
});
