// The one logger: pino JSON, pretty when a person is watching a terminal; secrets redacted.
import pino, { type Logger } from 'pino';

export function createLogger(level: string, destination: 'stdout' | 'stderr' = 'stdout'): Logger {
  const fd = destination === 'stdout' ? 1 : 2;
  const pretty = (destination === 'stdout' ? process.stdout : process.stderr).isTTY;
  return pino(
    {
      level,
      redact: {
        paths: [
          'req.headers.authorization',
          'headers.authorization',
          '*.password',
          'password',
          'secret',
          '*.secret',
        ],
        censor: '[redacted]',
      },
      transport: pretty
        ? { target: 'pino-pretty', options: { destination: fd, translateTime: 'SYS:HH:MM:ss.l' } }
        : undefined,
    },
    pretty ? undefined : pino.destination({ fd, sync: false }),
  );
}
