import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANSWER_AT_COMMIT, pipelinedPool } from '../../src/store/postgres/pipelined-pool.ts';
import { createTestDatabase, type TestDatabase } from '../support/postgres.ts';

describe('PostgreSQL connections whose BEGIN and final write are answered later', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let db: Kysely<{ items: { id: number } }>;

  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2, pipeline: true });
    db = new Kysely({ dialect: new PostgresDialect({ pool: pipelinedPool(pool) }) });
    await sql`create table items (id integer primary key)`.execute(db);
  });

  afterAll(async () => {
    await db.destroy();
    await database.drop();
  });

  const ids = async () =>
    (await db.selectFrom('items').select('id').orderBy('id').execute()).map((row) => row.id);

  it('commits a transaction whose final write went out with COMMIT', async () => {
    await db.transaction().execute(async (trx) => {
      expect(await trx.selectFrom('items').select('id').execute()).toEqual([]);
      await sql.raw(`insert into items (id) values (1)`).execute(trx);
      await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (2)`).execute(trx);
    });
    expect(await ids()).toEqual([1, 2]);
  });

  it('throws the final write’s own error at COMMIT, and commits nothing of the transaction', async () => {
    const attempt = db.transaction().execute(async (trx) => {
      await sql.raw(`insert into items (id) values (3)`).execute(trx);
      // Id 1 exists: this write fails, but the transaction only hears of it at COMMIT.
      const answer = await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (1)`).execute(trx);
      expect(answer.rows).toEqual([]);
    });
    await expect(attempt).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([1, 2]);
    // The connection is clean for the next transaction.
    await db.transaction().execute(async (trx) => {
      await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (4)`).execute(trx);
    });
    expect(await ids()).toEqual([1, 2, 4]);
  });

  it('throws an unanswered error at the next read too, not that read’s "transaction is aborted"', async () => {
    const attempt = db.transaction().execute(async (trx) => {
      await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (2)`).execute(trx);
      await trx.selectFrom('items').select('id').execute();
    });
    await expect(attempt).rejects.toMatchObject({ code: '23505' });
    expect(await ids()).toEqual([1, 2, 4]);
  });

  it('answers a marked statement at once outside a transaction, where no COMMIT would read it', async () => {
    await expect(
      sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (1)`).execute(db),
    ).rejects.toMatchObject({ code: '23505' });
    await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (5)`).execute(db);
    expect(await ids()).toEqual([1, 2, 4, 5]);
  });

  it('sends BEGIN and the transaction’s first read together, and the final write with COMMIT', async () => {
    // Round trips, counted as the times the connection waited for PostgreSQL to be ready again
    // with nothing else sent: a statement sent while another is unanswered shares its wait.
    const client = await pool.connect();
    const connection = (client as unknown as { connection: NodeJS.EventEmitter }).connection;
    client.release();
    let waits = 0;
    let unanswered = 0;
    const sent = pg.Query.prototype.submit;
    pg.Query.prototype.submit = function (this: pg.Query, ...args: Parameters<typeof sent>) {
      unanswered += 1;
      return sent.apply(this, args);
    };
    const onReady = () => {
      unanswered -= 1;
      if (unanswered === 0) waits += 1;
    };
    connection.on('readyForQuery', onReady);
    try {
      await db.transaction().execute(async (trx) => {
        await trx.selectFrom('items').select('id').execute();
        await sql.raw(`${ANSWER_AT_COMMIT}insert into items (id) values (6)`).execute(trx);
      });
    } finally {
      pg.Query.prototype.submit = sent;
      connection.off('readyForQuery', onReady);
    }
    expect(waits).toBe(2);
    expect(await ids()).toEqual([1, 2, 4, 5, 6]);
  });
});
