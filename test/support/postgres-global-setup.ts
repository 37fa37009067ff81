// Vitest global setup: chooses the PostgreSQL server once for the whole run (see postgres.ts) and,
// when neither STOCKHOLD_TEST_PG_URL nor the local server is there, starts one embedded server for
// every test file and stops it at the end. STOCKHOLD_TEST_PG_EMBEDDED=1 forces the embedded server
// (to check the fallback on a machine that has a local one, as on a machine without one).
import type { TestProject } from 'vitest/node';
import { testDialects } from './dialects.ts';
import { configuredServerUrl, startEmbeddedPostgres } from './postgres-server.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const dialects = testDialects();
  // Said on every run, so a narrowed run is never mistaken for a full one.
  console.log(`stores under test: ${dialects.join(', ')}`);
  // A run without PostgreSQL (npm run test:fast) neither probes nor starts a server.
  if (!dialects.includes('postgres')) return undefined;
  const url = process.env.STOCKHOLD_TEST_PG_EMBEDDED === '1' ? null : await configuredServerUrl();
  if (url) {
    project.provide('pg_admin_url', url);
    return undefined;
  }
  const embedded = await startEmbeddedPostgres();
  project.provide('pg_admin_url', embedded.url);
  return () => embedded.stop();
}
