// The pool as Kysely's PostgreSQL dialect sees it, over connections in pg's pipeline mode (a
// statement goes out without waiting for the answer to the one before). Two statements of a
// transaction do not wait for their answers: BEGIN, which then travels with the transaction's first
// read, and its final write (marked with ANSWER_AT_COMMIT), which travels with COMMIT. A group commit
// is then two round trips (BEGIN + the locking read; the write + COMMIT) instead of four: each one
// waited for the database and then for an event loop busy reading HTTP requests.
//
// Those answers are still read. An error in either is thrown by the next statement of the
// transaction (COMMIT at the latest); PostgreSQL has aborted the transaction by then, so its COMMIT
// commits nothing (it answers ROLLBACK).
import type { PostgresCursor, PostgresPool, PostgresPoolClient, PostgresQueryResult } from 'kysely';
import type pg from 'pg';

/** Prefix of a transaction's final write: its answer is read together with COMMIT's. */
export const ANSWER_AT_COMMIT = '/* answered at commit */ ';

export function pipelinedPool(pool: pg.Pool): PostgresPool {
  const clients = new WeakMap<pg.PoolClient, PipelinedClient>();
  return {
    async connect() {
      const client = await pool.connect();
      let pipelined = clients.get(client);
      if (!pipelined) {
        pipelined = new PipelinedClient(client);
        clients.set(client, pipelined);
      }
      return pipelined;
    },
    end: () => pool.end(),
  };
}

type Answer = Promise<PostgresQueryResult<unknown>>;

class PipelinedClient implements PostgresPoolClient {
  private in_transaction = false;
  /** Statements sent whose answers nobody has read yet, in the order sent. */
  private unanswered: Answer[] = [];
  /**
   * Why the connection died (57P01 after pg_terminate_backend, EPIPE...), if it did between two
   * statements: pg then fails the next one only with "not queryable", which hides the cause.
   */
  private lost: Error | null = null;

  constructor(private readonly client: pg.PoolClient) {
    client.on('error', (error) => {
      this.lost ??= error;
    });
  }

  query<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>>;
  query<R>(cursor: PostgresCursor<R>): PostgresCursor<R>;
  query<R>(
    sql: string | PostgresCursor<R>,
    parameters: readonly unknown[] = [],
  ): Promise<PostgresQueryResult<R>> | PostgresCursor<R> {
    // Kysely passes a cursor only to stream results, with a cursor class configured: never here.
    if (typeof sql !== 'string') throw new Error('streaming query results is not configured');
    if (sql === 'begin') {
      this.in_transaction = true;
      return this.unread(sql, parameters);
    }
    if (this.in_transaction && sql.startsWith(ANSWER_AT_COMMIT)) return this.unread(sql, parameters);
    if (sql === 'commit' || sql === 'rollback') this.in_transaction = false;
    return this.read(sql, parameters);
  }

  release(destroy?: boolean): void {
    this.in_transaction = false;
    this.unanswered = [];
    this.client.release(destroy);
  }

  private send(sql: string, parameters: readonly unknown[]): Answer {
    if (this.lost) return Promise.reject(this.lost);
    return this.client.query(sql, [...parameters]) as unknown as Answer;
  }

  /** Sends the statement and answers at once; its real answer is read with the next statement. */
  private unread<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    const answer = this.send(sql, parameters);
    // Read (and thrown) by the next statement; never an unhandled rejection meanwhile.
    answer.catch(() => {});
    this.unanswered.push(answer);
    return Promise.resolve({ command: 'SELECT', rowCount: 0, rows: [] });
  }

  /** Sends the statement and waits for its answer and every unread one before it. */
  private async read<R>(sql: string, parameters: readonly unknown[]): Promise<PostgresQueryResult<R>> {
    const answer = this.send(sql, parameters);
    if (this.unanswered.length === 0) return answer as Promise<PostgresQueryResult<R>>;
    const earlier = this.unanswered;
    this.unanswered = [];
    const settled = await Promise.allSettled([...earlier, answer]);
    // The first failure is the cause; the statements after it only found the transaction aborted.
    for (const outcome of settled) if (outcome.status === 'rejected') throw outcome.reason;
    return (settled.at(-1) as PromiseFulfilledResult<PostgresQueryResult<R>>).value;
  }
}
