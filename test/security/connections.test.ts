// Connections are bounded: a client that is slow with its headers (or sends nothing) is answered 408
// and closed by HEADERS_TIMEOUT_MS, an idle keep-alive connection by KEEP_ALIVE_TIMEOUT_MS, and past
// CONNECTIONS_MAX a new connection is closed at once while the open ones are served.
import { connect, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from '../support/server.ts';

/** Far above the configured timeouts: only a server that never closes the connection reaches it. */
const CLOSE_WAIT_MS_MAX = 10_000;

interface RawConnection {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  /** Resolves with what the server sent once it closes the connection, or rejects past the bound. */
  closed(): Promise<string>;
}

async function openRaw(base_url: string): Promise<RawConnection> {
  const { hostname, port } = new URL(base_url);
  const socket = connect({ host: hostname, port: Number(port) });
  let data = '';
  socket.setEncoding('utf8');
  socket.on('data', (chunk: string) => {
    data += chunk;
  });
  socket.on('error', () => {}); // a reset is a close too; 'close' follows
  const ended = new Promise<string>((resolve) => socket.once('close', () => resolve(data)));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return {
    socket,
    received: () => data,
    closed: () =>
      Promise.race([
        ended,
        new Promise<string>((_, reject) =>
          setTimeout(
            () => reject(new Error(`the server kept the connection open ${CLOSE_WAIT_MS_MAX} ms`)),
            CLOSE_WAIT_MS_MAX,
          ).unref(),
        ),
      ]),
  };
}

/** Sends one complete keep-alive request and waits (bounded) for its whole answer. */
async function requestOn(connection: RawConnection, path: string): Promise<string> {
  const start = connection.received().length;
  connection.socket.write(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n`);
  for (let waited = 0; waited < 200; waited++) {
    const answer = connection.received().slice(start);
    const length = /content-length: (\d+)/i.exec(answer)?.[1];
    const head_end = answer.indexOf('\r\n\r\n');
    if (length !== undefined && head_end >= 0 && answer.length >= head_end + 4 + Number(length))
      return answer;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`no complete answer to GET ${path}: ${connection.received()}`);
}

describe('connection timeouts and the connection cap', () => {
  let server: TestServer | null = null;
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const socket of sockets.splice(0)) socket.destroy();
    await server?.dispose();
    server = null;
  });
  const open = async (base_url: string) => {
    const connection = await openRaw(base_url);
    sockets.push(connection.socket);
    return connection;
  };

  it('runs by default with the documented bounds: headers within 30 s, idle keep-alive 72 s, 10,000 connections', async () => {
    server = await startTestServer();
    const { headersTimeout, keepAliveTimeout, maxConnections } = server.app.server;
    expect({ headersTimeout, keepAliveTimeout, maxConnections }).toEqual({
      headersTimeout: 30_000,
      keepAliveTimeout: 72_000,
      maxConnections: 10_000,
    });
    // Swept every second, not Node's 30 s: a late connection is closed about a second after 30 s.
    expect((server.app.server as { connectionsCheckingInterval?: number }).connectionsCheckingInterval).toBe(
      1000,
    );
  });

  it('answers 408 and closes a connection whose headers are late, or that sends nothing', async () => {
    server = await startTestServer({ env: { HEADERS_TIMEOUT_MS: '500' } });
    const slow = await open(server.url);
    slow.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
    const silent = await open(server.url);
    expect(await slow.closed()).toMatch(/^HTTP\/1\.1 408/);
    await silent.closed();
    // The server itself is fine.
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('closes an idle keep-alive connection after KEEP_ALIVE_TIMEOUT_MS', async () => {
    server = await startTestServer({ env: { KEEP_ALIVE_TIMEOUT_MS: '300' } });
    const connection = await open(server.url);
    expect(await requestOn(connection, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
    await connection.closed();
  });

  it('closes new connections at once past CONNECTIONS_MAX, serves the open ones, and takes new ones again below it', async () => {
    const connections_max = 3;
    server = await startTestServer({ env: { CONNECTIONS_MAX: String(connections_max) } });
    const held: RawConnection[] = [];
    for (let i = 0; i < connections_max; i++) {
      const connection = await open(server.url);
      // Answered: the server has accepted and counts it.
      expect(await requestOn(connection, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
      held.push(connection);
    }
    const refused = await open(server.url);
    refused.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
    expect(await refused.closed()).toBe('');
    // The connections already open are still served.
    expect(await requestOn(held[0]!, '/healthz')).toMatch(/^HTTP\/1\.1 200/);

    held[1]!.socket.destroy();
    const app_server = server.app.server;
    const count = () =>
      new Promise<number>((resolve, reject) =>
        app_server.getConnections((error, n) => (error ? reject(error) : resolve(n))),
      );
    for (let polls = 0; (await count()) >= connections_max; polls++) {
      if (polls >= 200) throw new Error('the server never saw the connection close');
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    const again = await open(server.url);
    expect(await requestOn(again, '/healthz')).toMatch(/^HTTP\/1\.1 200/);
  });
});
