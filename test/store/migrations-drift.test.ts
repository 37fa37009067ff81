// The migrations do not drift: a database migrated to the latest schema in one go and one brought up
// a release at a time from the first (holding the first release's rows) end with the same schema, on
// SQLite and PostgreSQL; the migrations keep the names that databases in the field have recorded; and
// a shipped migration still runs the statements it always ran (both paths run the same code, so only
// that catches an edit to one).
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, type LogEvent, PostgresDialect, SqliteDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createMigrator,
  type DialectName,
  migrateToLatest,
  migrationNames,
} from '../../src/store/migrations.ts';
import { createTestDatabase } from '../support/postgres.ts';
import { DIALECTS } from '../support/stores.ts';

// The frozen record of the field: Kysely has stored these names in kysely_migration on every
// database ever migrated. Renaming, removing or reordering one breaks those databases; only
// appending a new name here (with its new migration) is right.
const FIELD_MIGRATION_NAMES = [
  '0001_initial',
  '0002_webhooks',
  '0003_api_keys',
  '0004_ledger_by_order',
  '0005_api_key_last_used',
  '0006_order_life',
  '0007_sku_life',
  '0008_drops',
];

// What each shipped migration runs, per dialect: the SHA-256 (first 16 hex digits) of its statements,
// one a line. A shipped migration is never edited (databases in the field ran the old one), so a
// change here is a mistake, unless a Kysely upgrade changed how the same schema is written: then
// check the drift test still passes and update the fingerprint in that commit. A new migration adds
// its line.
const FIELD_FINGERPRINTS: Record<DialectName, Record<string, string>> = {
  sqlite: {
    '0001_initial': '5f741ed573e4c54d',
    '0002_webhooks': 'f2ae8aaaefd66a45',
    '0003_api_keys': '2142a275937d59ef',
    '0004_ledger_by_order': '48b998d9f1f95a2c',
    '0005_api_key_last_used': 'd46d8366c27b1a42',
    '0006_order_life': '97058df8cacdff8a',
    '0007_sku_life': 'cd60476265e32b58',
    '0008_drops': 'dfcdffbf86513d37',
  },
  postgres: {
    // Differs from SQLite's in the outbox's generated key only.
    '0001_initial': 'e83bd584b7b7955e',
    '0002_webhooks': 'f2ae8aaaefd66a45',
    '0003_api_keys': '2142a275937d59ef',
    '0004_ledger_by_order': '48b998d9f1f95a2c',
    '0005_api_key_last_used': 'd46d8366c27b1a42',
    '0006_order_life': '97058df8cacdff8a',
    '0007_sku_life': 'cd60476265e32b58',
    '0008_drops': 'dfcdffbf86513d37',
  },
};

const TABLES_OF_LATEST = [
  'api_keys',
  'drop_tickets',
  'drops',
  'holds',
  'idempotency_keys',
  'ledger',
  'order_lines',
  'order_returns',
  'order_sold_lines',
  'orders',
  'outbox',
  'outbox_cursors',
  'skus',
  'webhook_attempts',
  'webhook_deliveries',
  'webhook_endpoints',
];

interface Schema {
  /** The application's tables (Kysely's own two left out), sorted. */
  tables: string[];
  /** Everything else, in a form where two equal schemas give equal values. */
  details: Record<string, unknown[]>;
}

/** A raw, empty database of the dialect, as `stockhold migrate --create` starts from. */
interface EmptyDatabase {
  db: Kysely<unknown>;
  dispose(): Promise<void>;
}

async function openEmptyDatabase(
  dialect: DialectName,
  directory: string,
  log: (event: LogEvent) => void = () => {},
): Promise<EmptyDatabase> {
  if (dialect === 'sqlite') {
    const path = join(directory, `${Math.random().toString(36).slice(2, 10)}.db`);
    const db = new Kysely<unknown>({ dialect: new SqliteDialect({ database: new Database(path) }), log });
    return { db, dispose: () => db.destroy() };
  }
  const database = await createTestDatabase('stockhold_drift');
  const db = new Kysely<unknown>({
    dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: database.url, max: 2 }) }),
    log,
  });
  return {
    db,
    async dispose() {
      await db.destroy();
      await database.drop();
    },
  };
}

/** Whitespace runs as one space, so a statement's layout is not a difference. */
function normalizeSql(text: string | null): string | null {
  return text === null ? null : text.replace(/\s+/g, ' ').trim();
}

async function sqliteSchema(db: Kysely<unknown>): Promise<Schema> {
  const master = await sql<{ type: string; name: string; tbl_name: string; sql: string | null }>`
    select type, name, tbl_name, sql from sqlite_master order by type, name`.execute(db);
  const tables = master.rows
    .filter((row) => row.type === 'table' && !row.name.startsWith('sqlite_'))
    .map((row) => row.name);
  const details: Record<string, unknown[]> = {
    sqlite_master: master.rows.map((row) => ({ ...row, sql: normalizeSql(row.sql) })),
  };
  for (const table of tables) {
    const columns = await sql`select * from pragma_table_info(${table}) order by cid`.execute(db);
    const indexes = await sql<{ name: string; unique: number; origin: string; partial: number }>`
      select name, "unique", origin, partial from pragma_index_list(${table}) order by name`.execute(db);
    const indexColumns: unknown[] = [];
    for (const index of indexes.rows) {
      const { rows } =
        await sql`select seqno, cid, name from pragma_index_info(${index.name}) order by seqno`.execute(db);
      indexColumns.push({ index: index.name, columns: rows });
    }
    details[`${table}: columns`] = columns.rows;
    details[`${table}: indexes`] = indexes.rows;
    details[`${table}: index columns`] = indexColumns;
  }
  return { tables: tables.filter((name) => !name.startsWith('kysely_migration')).sort(), details };
}

async function postgresSchema(db: Kysely<unknown>): Promise<Schema> {
  const tables = await sql<{ name: string }>`
    select table_name as name from information_schema.tables
    where table_schema = current_schema() and table_type = 'BASE TABLE'
    order by table_name`.execute(db);
  const columns = await sql`
    select table_name, column_name, ordinal_position, data_type, is_nullable, column_default,
      is_identity, identity_generation
    from information_schema.columns where table_schema = current_schema()
    order by table_name, ordinal_position`.execute(db);
  const indexes = await sql`
    select tablename, indexname, indexdef from pg_indexes where schemaname = current_schema()
    order by tablename, indexname`.execute(db);
  const constraints = await sql`
    select conrelid::regclass::text as table_name, conname, contype, pg_get_constraintdef(oid) as definition
    from pg_constraint where connamespace = current_schema()::regnamespace
    order by table_name, conname`.execute(db);
  const sequences = await sql`
    select sequence_name, data_type, start_value, increment, maximum_value, cycle_option
    from information_schema.sequences where sequence_schema = current_schema()
    order by sequence_name`.execute(db);
  return {
    tables: tables.rows.map((row) => row.name).filter((name) => !name.startsWith('kysely_migration')),
    details: {
      columns: columns.rows,
      indexes: indexes.rows,
      constraints: constraints.rows,
      sequences: sequences.rows,
    },
  };
}

function schemaOf(db: Kysely<unknown>, dialect: DialectName): Promise<Schema> {
  return dialect === 'sqlite' ? sqliteSchema(db) : postgresSchema(db);
}

/** Rows as the first release wrote them: a SKU, one pending order holding one unit, its ledger
 * movement, its idempotency key and its event. */
async function writeFirstReleaseRows(db: Kysely<unknown>): Promise<void> {
  const at_ms = 1_700_000_000_000;
  await sql`insert into skus (sku, name, available, on_hold, sold, max_per_customer, version, created_at_ms,
    updated_at_ms) values ('SKU-1', 'Mug', 9, 1, 0, null, 2, ${at_ms}, ${at_ms})`.execute(db);
  await sql`insert into orders (id, customer_id, status, created_at_ms, expires_at_ms)
    values ('order-1', 'customer-1', 'pending_payment', ${at_ms}, ${at_ms + 600_000})`.execute(db);
  await sql`insert into order_lines (order_id, line_no, sku, quantity) values ('order-1', 0, 'SKU-1', 1)`.execute(
    db,
  );
  await sql`insert into holds (order_id, sku, quantity, expires_at_ms)
    values ('order-1', 'SKU-1', 1, ${at_ms + 600_000})`.execute(db);
  await sql`insert into ledger (sku, seq, at_ms, kind, order_id, delta_available, delta_on_hold, delta_sold,
    available_after, on_hold_after, sold_after, reason)
    values ('SKU-1', 1, ${at_ms}, 'hold', 'order-1', -1, 1, 0, 9, 1, 0, null)`.execute(db);
  await sql`insert into idempotency_keys (key, fingerprint, outcome, created_at_ms)
    values ('key-1', 'fingerprint-1', '{}', ${at_ms})`.execute(db);
  await sql`insert into outbox (type, subject_id, payload, created_at_ms)
    values ('order.created', 'order-1', '{}', ${at_ms})`.execute(db);
}

/** Migrates to the first migration, writes the first release's rows, then takes each next step alone. */
async function migrateStepByStep(db: Kysely<unknown>, dialect: DialectName): Promise<string[]> {
  const migrator = createMigrator(db, dialect);
  const first = await migrator.migrateTo(FIELD_MIGRATION_NAMES[0]!);
  expect(first.error).toBeUndefined();
  const applied = (first.results ?? []).map((result) => result.migrationName);
  expect(applied).toEqual([FIELD_MIGRATION_NAMES[0]]);
  await writeFirstReleaseRows(db);
  // One step per migration after the first, and one more that must find nothing left to do.
  const steps_max = migrationNames(dialect).length;
  for (let step = 1; step <= steps_max; step++) {
    const { error, results } = await migrator.migrateUp();
    if (error) throw error instanceof Error ? error : new Error(String(error));
    if (step === steps_max) {
      expect(results).toEqual([]);
      break;
    }
    expect(results?.map((result) => [result.migrationName, result.status])).toEqual([
      [migrationNames(dialect)[step], 'Success'],
    ]);
    applied.push(results![0]!.migrationName);
  }
  return applied;
}

for (const dialect of DIALECTS) {
  describe(`migrations on ${dialect}`, () => {
    let directory: string;
    const opened: EmptyDatabase[] = [];
    const open = async (log?: (event: LogEvent) => void) => {
      const database = await openEmptyDatabase(dialect, directory, log);
      opened.push(database);
      return database.db;
    };

    beforeAll(() => {
      directory = mkdtempSync(join(tmpdir(), 'stockhold-drift-'));
    });
    afterAll(async () => {
      for (const database of opened) await database.dispose();
      rmSync(directory, { recursive: true, force: true });
    });

    it('keeps the names, in the order, that databases in the field have recorded', async () => {
      expect(migrationNames(dialect)).toEqual(FIELD_MIGRATION_NAMES);
      const db = await open();
      expect(await migrateToLatest(db, dialect)).toEqual(FIELD_MIGRATION_NAMES);
      const recorded = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(
        db,
      );
      expect(recorded.rows.map((row) => row.name)).toEqual(FIELD_MIGRATION_NAMES);
    });

    it('runs exactly the statements each shipped migration has always run', async () => {
      const statements: string[] = [];
      const db = await open((event) => {
        if (event.level === 'query') {
          statements.push(`${event.query.sql} ${JSON.stringify(event.query.parameters)}`);
        }
      });
      // Each migration's own `up`, in order, on an empty database: only its statements are logged.
      const ran: Record<string, string[]> = {};
      for (const { name, migration } of await createMigrator(db, dialect).getMigrations()) {
        const before = statements.length;
        await migration.up(db);
        ran[name] = statements.slice(before);
      }
      const fingerprints = Object.fromEntries(
        Object.entries(ran).map(([name, lines]) => [
          name,
          createHash('sha256').update(lines.join('\n')).digest('hex').slice(0, 16),
        ]),
      );
      const changed = Object.keys(fingerprints).filter(
        (name) => fingerprints[name] !== FIELD_FINGERPRINTS[dialect][name],
      );
      const shown = changed.map((name) => `${name} now runs:\n${ran[name]!.join('\n')}`).join('\n\n');
      expect(fingerprints, shown).toEqual(FIELD_FINGERPRINTS[dialect]);
    });

    it('builds the same schema in one go as step by step from the first release, its rows kept', async () => {
      const fresh = await open();
      await migrateToLatest(fresh, dialect);
      const stepwise = await open();
      expect(await migrateStepByStep(stepwise, dialect)).toEqual(FIELD_MIGRATION_NAMES);

      const fresh_schema = await schemaOf(fresh, dialect);
      expect(fresh_schema.tables).toEqual(TABLES_OF_LATEST);
      const stepwise_schema = await schemaOf(stepwise, dialect);
      // Section by section, so a failure names the table or catalogue that differs.
      expect(Object.keys(stepwise_schema.details)).toEqual(Object.keys(fresh_schema.details));
      for (const [section, rows] of Object.entries(fresh_schema.details)) {
        expect(stepwise_schema.details[section], section).toEqual(rows);
      }
      // The catalogues were read, not two empty answers: a column, an index and a constraint of
      // three different migrations are in them.
      const catalogued = JSON.stringify(fresh_schema.details);
      for (const name of [
        'last_used_at_ms',
        'ledger_by_order',
        'webhook_deliveries_once',
        'low_stock_threshold',
      ]) {
        expect(catalogued).toContain(name);
      }
      expect(stepwise_schema).toEqual(fresh_schema);

      // The first release's SKU is not archived and has no low-stock threshold (0007_sku_life).
      const sku_life = await sql<{ archived: number | string; low_stock_threshold: null }>`
        select archived, low_stock_threshold from skus where sku = 'SKU-1'`.execute(stepwise);
      expect(sku_life.rows.map((row) => [Number(row.archived), row.low_stock_threshold])).toEqual([
        [0, null],
      ]);
      // The first release's rows read through the latest schema, and the event ids go on after them.
      const order = await sql<{ status: string; api_key_id: string | null }>`
        select status, api_key_id from orders where id = 'order-1'`.execute(stepwise);
      expect(order.rows).toEqual([{ status: 'pending_payment', api_key_id: null }]);
      const sku = await sql<{ available: number | string; on_hold: number | string }>`
        select available, on_hold from skus where sku = 'SKU-1'`.execute(stepwise);
      expect(sku.rows.map((row) => [Number(row.available), Number(row.on_hold)])).toEqual([[9, 1]]);
      await sql`insert into outbox (type, subject_id, payload, created_at_ms)
        values ('order.paid', 'order-1', '{}', 1700000001000)`.execute(stepwise);
      const events = await sql<{ id: number | string; type: string }>`
        select id, type from outbox order by id`.execute(stepwise);
      expect(events.rows.map((row) => [Number(row.id), row.type])).toEqual([
        [1, 'order.created'],
        [2, 'order.paid'],
      ]);
    });
  });
}
