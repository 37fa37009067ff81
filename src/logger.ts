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
          // Access control (issue 10): API keys never reach a log line.
          'authorization',
          '*.authorization',
          '*.headers.authorization',
          'STOCKHOLD_API_KEYS',
          '*.STOCKHOLD_API_KEYS',
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
