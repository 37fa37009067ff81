// One short connection to a PostgreSQL database, outside any pool: the CLI's early check that a URL
// opens (and its CREATE DATABASE), so that only src/store talks to the driver.
import pg from 'pg';

/** Connects to `url`, runs `statement`, disconnects; rejects with the driver's error (its `code` kept). */
export async function connectOnce(url: string, statement: string, connect_timeout_ms: number): Promise<void> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: connect_timeout_ms });
  // A connection that breaks later is reported by the query below, not as an unhandled 'error'.
  client.on('error', () => {});
  await client.connect();
  try {
    await client.query(statement);
  } finally {
    await client.end();
  }
}
