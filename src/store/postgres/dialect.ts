// PostgreSQL as the registry (src/store/dialects.ts) sees it: which DATABASE_URLs name it, how it
// opens, and its answers to what differs between databases.
import { ConfigError } from '../../core/config-error.ts';
import type { Dialect } from '../dialect.ts';
import { redactUrl } from '../redact-url.ts';
import { postgresBulkWriter } from './bulk-writes.ts';
import { connectPostgres } from './connect.ts';
import { POSTGRES_MIGRATION } from './migration-dialect.ts';
import { postgresUsageQuery } from './usage-query.ts';

export interface PostgresLocation {
  kind: 'postgres';
  /** The URL, with PGUSER/PGPASSWORD filled in where it names no user or password. */
  url: string;
}

const SCHEMES = ['postgres://', 'postgresql://'];

export const postgresDialect = {
  name: 'postgres',
  locate(config) {
    const url = config.DATABASE_URL;
    if (!SCHEMES.some((scheme) => url.startsWith(scheme))) return null;
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      throw new ConfigError('invalid configuration: DATABASE_URL is not a valid postgres:// URL');
    }
    if (!parsed.username && config.PGUSER) parsed.username = encodeURIComponent(config.PGUSER);
    if (!parsed.password && config.PGPASSWORD) parsed.password = encodeURIComponent(config.PGPASSWORD);
    return { kind: 'postgres', url: parsed.toString() };
  },
  connect: (location, config) =>
    connectPostgres({
      url: location.url,
      pool_size: config.PG_POOL_SIZE,
      statement_timeout_ms: config.PG_STATEMENT_TIMEOUT_MS,
    }),
  describe: (location) => `PostgreSQL at ${redactUrl(location.url)}`,
  usage_query: postgresUsageQuery,
  bulk_writer: postgresBulkWriter,
  migration: POSTGRES_MIGRATION,
} as const satisfies Dialect<PostgresLocation>;
