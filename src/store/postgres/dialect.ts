// PostgreSQL as the registry (src/store/dialects.ts) sees it: which DATABASE_URLs name it, how it
// opens, and its answers to what differs between databases.
import { ConfigError } from '../../core/config-error.ts';
import { DatabaseNotReady, type Dialect } from '../dialect.ts';
import { redactUrl } from '../redact-url.ts';
import { postgresBulkWriter } from './bulk-writes.ts';
import { connectPostgres } from './connect.ts';
import { connectOnce } from './connect-once.ts';
import { POSTGRES_MIGRATION } from './migration-dialect.ts';
import { postgresUsageQuery } from './usage-query.ts';

export interface PostgresLocation {
  kind: 'postgres';
  /** The URL, with PGUSER/PGPASSWORD filled in where it names no user or password. */
  url: string;
}

const SCHEMES = ['postgres://', 'postgresql://'];
/** A server that accepts the connection but never answers must not hang a command. */
const CONNECT_TIMEOUT_MS = 10_000;
/** PostgreSQL's "database does not exist" (invalid_catalog_name). */
const DATABASE_MISSING = '3D000';

/** Connects once to fail early with the server's reason; with `create`, creates a missing database. */
async function ensureExists(url: string, create: boolean): Promise<'existed' | 'created'> {
  try {
    await connectOnce(url, 'select 1', CONNECT_TIMEOUT_MS);
    return 'existed';
  } catch (error) {
    const missing = (error as { code?: string }).code === DATABASE_MISSING;
    if (!missing) throw new DatabaseNotReady('unreachable', error);
    if (!create) throw new DatabaseNotReady('missing', error);
  }
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  // CREATE DATABASE runs from the server's maintenance database, with the same credentials.
  const maintenance = new URL(url);
  maintenance.pathname = '/postgres';
  try {
    await connectOnce(
      maintenance.toString(),
      `CREATE DATABASE "${name.replaceAll('"', '""')}"`,
      CONNECT_TIMEOUT_MS,
    );
  } catch (error) {
    throw new DatabaseNotReady('create_failed', error);
  }
  return 'created';
}

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
  ensureExists: (location, create) => ensureExists(location.url, create),
  usage_query: postgresUsageQuery,
  bulk_writer: postgresBulkWriter,
  migration: POSTGRES_MIGRATION,
} as const satisfies Dialect<PostgresLocation>;
