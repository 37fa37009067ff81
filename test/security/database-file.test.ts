// The SQLite database holds webhook secrets and API key hashes: stockhold creates it, and SQLite its
// -wal and -shm files, readable and writable by the owner only. A file that exists keeps its mode.
import { chmodSync, closeSync, openSync, rmSync, statSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { apiClient, startTestServer, temporarySqliteUrl } from '../support/server.ts';

const modeOf = (path: string) => statSync(path).mode & 0o777;

describe('the SQLite database file', () => {
  const directories: string[] = [];
  afterEach(() => {
    for (const directory of directories.splice(0)) rmSync(directory, { recursive: true, force: true });
  });

  /** Starts a server on `url` and writes through it, so the -wal and -shm files exist. */
  async function serveAndWrite(url: string): Promise<string[]> {
    const server = await startTestServer({ database_url: url });
    try {
      expect((await apiClient(server.url).post('/v1/skus', { sku: 'lamp', available: 3 })).status).toBe(201);
      const path = url.slice('sqlite:'.length);
      const files = [path, `${path}-wal`, `${path}-shm`];
      // Read while the server runs: the log files are removed when the last connection closes.
      return files.map((file) => `${file.slice(path.length) || 'db'} ${modeOf(file).toString(8)}`);
    } finally {
      await server.stop();
    }
  }

  it('is created 0600, and so are its -wal and -shm files', async () => {
    const { url, directory } = temporarySqliteUrl();
    directories.push(directory);
    expect(await serveAndWrite(url)).toEqual(['db 600', '-wal 600', '-shm 600']);
  });

  it('keeps the mode an operator gave an existing file', async () => {
    const { url, directory } = temporarySqliteUrl();
    directories.push(directory);
    const path = url.slice('sqlite:'.length);
    closeSync(openSync(path, 'w'));
    chmodSync(path, 0o640);
    expect(await serveAndWrite(url)).toEqual(['db 640', '-wal 640', '-shm 640']);
  });
});
