// SQLite as the registry (src/store/dialects.ts) sees it: which DATABASE_URLs name it, how it opens,
// and its answers to what differs between databases.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { ConfigError } from '../../core/config-error.ts';
import { DatabaseNotReady, type Dialect } from '../dialect.ts';
import { sqliteBulkWriter } from './bulk-writes.ts';
import { connectSqlite, SQLITE_MEMORY } from './connect.ts';
import { SQLITE_MIGRATION } from './migration-dialect.ts';
import { sqliteUsageQuery } from './usage-query.ts';

export interface SqliteLocation {
  kind: 'sqlite';
  /** A file path, or SQLITE_MEMORY. */
  path: string;
}

const SCHEME = 'sqlite:';

export const sqliteDialect = {
  name: 'sqlite',
  locate(config) {
    const url = config.DATABASE_URL;
    if (!url.startsWith(SCHEME)) return null;
    const path = url.slice(SCHEME.length);
    if (path === '')
      throw new ConfigError('invalid configuration: DATABASE_URL: sqlite: needs a path or :memory:');
    return { kind: 'sqlite', path };
  },
  connect: (location) => connectSqlite(location.path),
  describe({ path }, form) {
    if (form === 'as_given') return `SQLite file ${path}`;
    return path === SQLITE_MEMORY ? 'SQLite in memory' : `SQLite file ${resolve(path)}`;
  },
  async ensureExists({ path }, create) {
    // connectSqlite makes the file (and its directory) when it is missing.
    if (path === SQLITE_MEMORY || existsSync(path)) return 'existed';
    if (!create) throw new DatabaseNotReady('missing');
    return 'created';
  },
  usage_query: sqliteUsageQuery,
  bulk_writer: sqliteBulkWriter,
  migration: SQLITE_MIGRATION,
} as const satisfies Dialect<SqliteLocation>;
