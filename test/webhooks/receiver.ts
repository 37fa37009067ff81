// A real HTTP receiver on 127.0.0.1 for webhook tests: records every request and answers what the
// test's `respond` says (a status code, or 'hang' to never answer so the sender times out).
import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  headers: IncomingHttpHeaders;
  body: string;
  event: { id: number; type: string; subject_id: string; data: any };
  /** What the receiver answered: a status code, or 'hang'. */
  answer: number | 'hang';
}

export type Respond = (request: { event: Received['event']; index: number }) => number | 'hang';

export interface Receiver {
  url: string;
  received: Received[];
  respond: Respond;
  close(): Promise<void>;
}

export async function startReceiver(respond: Respond = () => 200): Promise<Receiver> {
  const hanging: ServerResponse[] = [];
  const receiver: Receiver = { url: '', received: [], respond, close: async () => {} };
  const server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const event = JSON.parse(body) as Received['event'];
      const answer = receiver.respond({ event, index: receiver.received.length });
      receiver.received.push({ headers: request.headers, body, event, answer });
      if (answer === 'hang') {
        hanging.push(response);
        return;
      }
      response.statusCode = answer;
      response.end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  receiver.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  receiver.close = async () => {
    for (const response of hanging) response.destroy();
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return receiver;
}

/** The receiver's side of the signature check, written from the README's description. */
export function signatureIsValid(secret: string, header: string | undefined, body: string): boolean {
  const match = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(header ?? '');
  if (!match) return false;
  const expected = createHmac('sha256', secret).update(`${match[1]}.${body}`).digest();
  return timingSafeEqual(expected, Buffer.from(match[2]!, 'hex'));
}

/** Polls until `condition` holds (deliveries are asynchronous), failing after a generous bound. */
export async function eventually(
  condition: () => boolean | Promise<boolean>,
  what: string,
  limit_ms = 20_000,
) {
  const started = Date.now();
  while (!(await condition())) {
    if (Date.now() - started > limit_ms) throw new Error(`timed out waiting for: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
