// Screenshots the dashboard during a small simulated flash sale (docs/dashboard.png for the README):
// a real server on a throwaway SQLite file, a burst of checkouts, payments, cancels, expiries and
// refusals through the API, and Chromium watching. Run: npx tsx bench/dashboard-screenshot.ts [out.png]
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { loadConfig } from '../src/config.ts';
import { createLogger } from '../src/logger.ts';
import { startServer } from '../src/server.ts';
import { buildDashboardIfStale, launchChromium } from '../test/dashboard/browser.ts';
import { apiClient } from '../test/support/server.ts';

const SALE_SECONDS = 25;
const CHECKOUTS_PER_TICK = 6;
const TICK_MS = 100;
const PAY_PROBABILITY = 0.6;
const CANCEL_PROBABILITY = 0.06;

const PRODUCTS: [string, string, number][] = [
  ['phone-x-128', 'Phone X 128 GB', 120],
  ['phone-x-256', 'Phone X 256 GB', 60],
  ['earbuds-pro', 'Earbuds Pro', 300],
  ['tv-55-oled', 'TV 55" OLED', 25],
  ['rice-cooker', 'Rice cooker 1.8 L', 200],
  ['hijab-silk-navy', 'Silk hijab, navy', 400],
  ['sneaker-run-42', 'Running sneaker 42', 80],
  ['sneaker-run-43', 'Running sneaker 43', 80],
  ['powerbank-20k', 'Power bank 20,000 mAh', 250],
  ['smartwatch-s', 'Smartwatch S', 90],
  ['laptop-14', 'Laptop 14"', 30],
  ['coffee-beans-1kg', 'Coffee beans 1 kg', 500],
];

const out = process.argv[2] ?? 'docs/dashboard.png';
const directory = mkdtempSync(join(tmpdir(), 'stockhold-screenshot-'));
buildDashboardIfStale();
const config = loadConfig(
  {
    PORT: '0',
    LOG_LEVEL: 'warn',
    DATABASE_URL: `sqlite:${join(directory, 'sale.db')}`,
    SWEEP_INTERVAL_MS: '250',
  },
  undefined,
);
const server = await startServer(config, { logger: createLogger(config.LOG_LEVEL) });
const browser = await launchChromium();
try {
  const api = apiClient(server.url);
  for (const [sku, name, available] of PRODUCTS) await api.post('/v1/skus', { sku, name, available });
  for (let index = 0; index < 40; index++)
    await api.post('/v1/skus', { sku: `misc-${index}`, available: 50 });

  const page = await browser.newPage({ viewport: { width: 1440, height: 1000 } });
  await page.goto(server.url);
  await page.waitForSelector('#connection[data-status="live"]');

  // Skewed demand: the first products are the hot ones (and sell out, so checkouts get refused).
  const pick = () => PRODUCTS[Math.floor(PRODUCTS.length * Math.random() ** 2.2)]![0];
  const followUps: Promise<unknown>[] = [];
  const until_ms = Date.now() + SALE_SECONDS * 1000;
  let customer = 0;
  const tally = { attempts: 0, held: 0, refused: 0, paid: 0, cancelled: 0 };
  while (Date.now() < until_ms) {
    const checkouts = Array.from({ length: CHECKOUTS_PER_TICK }, () =>
      api.post('/v1/orders', {
        customer_id: `customer-${customer++}`,
        lines: [{ sku: pick(), quantity: 1 + Math.floor(Math.random() * 2) }],
        // Short holds, so some of the unpaid ones expire while the camera rolls.
        hold_seconds: 4 + Math.floor(Math.random() * 90),
      }),
    );
    for (const answer of await Promise.all(checkouts)) {
      tally.attempts += 1;
      if (answer.status === 409) tally.refused += 1;
      if (answer.status !== 201) continue;
      tally.held += 1;
      const roll = Math.random();
      const delay_ms = 200 + Math.random() * 3000;
      if (roll < PAY_PROBABILITY) {
        followUps.push(
          new Promise((resolve) => setTimeout(resolve, delay_ms)).then(() =>
            api
              .post(`/v1/orders/${answer.body.id}/payment`, { payment_id: `pay-${answer.body.id}` })
              .then((paid) => (tally.paid += paid.status === 200 ? 1 : 0)),
          ),
        );
      } else if (roll < PAY_PROBABILITY + CANCEL_PROBABILITY) {
        followUps.push(
          new Promise((resolve) => setTimeout(resolve, delay_ms)).then(() =>
            api
              .post(`/v1/orders/${answer.body.id}/cancel`)
              .then((cancelled) => (tally.cancelled += cancelled.status === 200 ? 1 : 0)),
          ),
        );
      }
    }
    await new Promise((resolve) => setTimeout(resolve, TICK_MS));
  }
  await Promise.all(followUps);
  console.log(`in ${SALE_SECONDS} s: ${JSON.stringify(tally)}`);
  // Show one paid order with its ledger entries in the detail panel.
  await page.locator('#orders tr:has(.state-paid)').first().click();
  await page.waitForSelector('#detail table.ledger');
  await new Promise((resolve) => setTimeout(resolve, 1500));
  mkdirSync(dirname(out), { recursive: true });
  await page.screenshot({ path: out });
  console.log(`wrote ${out}`);
} finally {
  await browser.close();
  await server.close();
  rmSync(directory, { recursive: true, force: true });
}
