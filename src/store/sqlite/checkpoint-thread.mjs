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

const timer = setInterval(() => {
  try {
    connection.pragma('wal_checkpoint(PASSIVE)');
  } catch {
    // Busy or interrupted: the next tick tries again, and the writer's own checkpoint is the backstop.
  }
}, interval_ms);

parentPort.on('message', () => {
  clearInterval(timer);
  connection.close();
  parentPort.close();
});
