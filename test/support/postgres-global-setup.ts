// Vitest global setup: chooses the PostgreSQL server once for the whole run (see postgres.ts) and,
// when neither STOCKHOLD_TEST_PG_URL nor the local server is there, starts one embedded server for
// every test file and stops it at the end.
import type { TestProject } from 'vitest/node';
import { configuredServerUrl, startEmbeddedPostgres } from './postgres-server.ts';

export default async function setup(project: TestProject): Promise<(() => Promise<void>) | undefined> {
  const url = await configuredServerUrl();
  if (url) {
    project.provide('pg_admin_url', url);
    return undefined;
  }
  const embedded = await startEmbeddedPostgres();
  project.provide('pg_admin_url', embedded.url);
  return () => embedded.stop();
}
