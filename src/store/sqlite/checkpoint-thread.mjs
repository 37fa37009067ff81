// Copies SQLite's write-ahead log back into the database file, on its own thread and connection.
// Left to the writer, every 1,000th page of log made one commit also copy the whole log and fsync
// the database file, on the thread that answers HTTP. A PASSIVE checkpoint never blocks the writer
// or a reader; the writer starts the log over once a checkpoint has caught up with it.
// Plain JavaScript: a worker thread does not get the main thread's TypeScript loader.
import { parentPort, workerData } from 'node:worker_threads';
import BetterSqlite3 from 'better-sqlite3';

const { path, interval_ms } = workerData;
const connection = new BetterSqlite3(path, { fileMustExist: true });
connection.pragma('busy_timeout = 5000');

/** Longest pause between checkpoints while they fail (the disk is full, the file unwritable). */
const BACKOFF_MAX_MS = 5000;

let delay_ms = interval_ms;
let timer = setTimeout(function checkpoint() {
  try {
    connection.pragma('wal_checkpoint(PASSIVE)');
    delay_ms = interval_ms;
  } catch (error) {
    // Busy or interrupted: the next tick tries again, and the writer's own checkpoint is the
    // backstop. A full disk or an I/O error lasts: tried less often until it passes (the store
    // logs that outage; each failed try would copy frames into a file that cannot take them).
    const lasting = /^SQLITE_(FULL|IOERR|CANTOPEN|READONLY)/.test(String(error?.code));
    delay_ms = lasting ? Math.min(delay_ms * 2, BACKOFF_MAX_MS) : interval_ms;
  }
  timer = setTimeout(checkpoint, delay_ms);
}, interval_ms);

parentPort.on('message', () => {
  clearTimeout(timer);
  connection.close();
  parentPort.close();
});
