// The per-request logger is made on its first line: a line below the logger's level makes nothing,
// a written line still carries the request's reqId, and a child of it carries both bindings.
import { Writable } from 'node:stream';
import { expect, it } from 'vitest';
import { createLogger, LazyChildLogger } from '../../src/logger.ts';

function capture() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return { lines, stream };
}

it('makes no child logger for a line below the level, and writes the others with the reqId', async () => {
  const { lines, stream } = capture();
  const parent = createLogger('info', 'stdout', stream);
  let children = 0;
  const counting = Object.assign(Object.create(parent), {
    child: (...args: Parameters<typeof parent.child>) => {
      children += 1;
      return parent.child(...args);
    },
  });
  const log = new LazyChildLogger(counting, { reqId: 'req-1' });
  log.debug({ status: 200 }, 'request completed');
  log.trace('nothing');
  expect(children).toBe(0);
  expect(log.isLevelEnabled('debug')).toBe(false);
  expect(log.level).toBe('info');

  log.warn({ secret: 'hidden' }, 'not ready');
  log.error('failed');
  log.child({ stream: 'events' }).info('opened');
  await new Promise((resolve) => setImmediate(resolve));
  expect(children).toBe(1);
  expect(lines.map((line) => [line.msg, line.reqId, line.stream])).toEqual([
    ['not ready', 'req-1', undefined],
    ['failed', 'req-1', undefined],
    ['opened', 'req-1', 'events'],
  ]);
  // Redaction still applies to the lines it writes.
  expect(lines[0]?.secret).toBe('[redacted]');
});
