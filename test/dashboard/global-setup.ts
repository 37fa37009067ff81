// Builds the dashboard once before any test file runs (files run in parallel: two builds into the
// same directory would race). A no-op when dist/dashboard is newer than its sources.
import { buildDashboardIfStale } from './browser.ts';

export default function setup(): void {
  buildDashboardIfStale();
}
