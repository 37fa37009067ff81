// The one logger: pino JSON, pretty when a person is watching a terminal; secrets redacted.
// Request lines come from Fastify's per-request child logger, so each carries the request's `reqId`.
import pino, { type DestinationStream, type Logger } from 'pino';

/** Fields that never reach a log line, wherever they appear (pino redact paths). */
export const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["x-api-key"]',
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  'authorization',
  'password',
  '*.password',
  'secret',
  '*.secret',
  '*.*.secret',
  'api_key',
  '*.api_key',
  'PGPASSWORD',
  '*.PGPASSWORD',
  'body.secret',
  // Access control (issue 10): API keys never reach a log line.
  '*.authorization',
  '*.headers.authorization',
  'STOCKHOLD_API_KEYS',
  '*.STOCKHOLD_API_KEYS',
];

/** `scheme://user:password@` in any text: the password is replaced (DATABASE_URL in an error). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^:/@\s]+:)[^@\s]+@/gi;

export function scrubText(text: string): string {
  return text.replace(URL_PASSWORD, '$1***@');
}

function scrub(value: unknown, depth: number): unknown {
  if (typeof value === 'string') return scrubText(value);
  if (depth === 0 || value === null || typeof value !== 'object') return value;
  if (value instanceof Error) {
    return {
      ...(scrub({ ...value }, depth - 1) as Record<string, unknown>),
      type: value.name,
      message: scrubText(value.message),
      stack: scrubText(value.stack ?? ''),
    };
  }
  if (Array.isArray(value)) return value.map((item) => scrub(item, depth - 1));
  const copy: Record<string, unknown> = {};
  for (const [key, item] of Object.entries(value)) copy[key] = scrub(item, depth - 1);
  return copy;
}

export function createLogger(
  level: string,
  destination: 'stdout' | 'stderr' = 'stdout',
  /** Where lines go instead of the file descriptor (tests). */
  stream?: DestinationStream,
): Logger {
  const fd = destination === 'stdout' ? 1 : 2;
  const pretty = !stream && (destination === 'stdout' ? process.stdout : process.stderr).isTTY;
  return pino(
    {
      level,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // A password inside a URL is part of a string, beyond redact's reach: scrubbed here.
      formatters: { log: (object) => scrub(object, 4) as Record<string, unknown> },
      hooks: {
        logMethod(args, method) {
          const [first, ...rest] = args;
          if (typeof first === 'string') return method.apply(this, [scrubText(first), ...rest]);
          return method.apply(this, [
            first,
            ...rest.map((item) => (typeof item === 'string' ? scrubText(item) : item)),
          ] as Parameters<typeof method>);
        },
      },
      transport: pretty
        ? { target: 'pino-pretty', options: { destination: fd, translateTime: 'SYS:HH:MM:ss.l' } }
        : undefined,
    },
    stream ?? (pretty ? undefined : pino.destination({ fd, sync: false })),
  );
}

type LevelName = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace';
/** The part of a pino logger a request's logger uses (Fastify's FastifyBaseLogger, and levels). */
interface RequestLoggerParent {
  level: string;
  isLevelEnabled(level: string): boolean;
  child(bindings: Record<string, unknown>, options?: object): Logger;
}

/**
 * A request's logger, made on its first line. Fastify makes a child logger per request (to carry its
 * reqId); with redaction each child serialises its bindings, about 4% of a /healthz's CPU, while an
 * answered request writes no line at the shipped level. A line at a level the parent does not log
 * is dropped before anything is made. Methods live on the prototype: no closure per request.
 */
export class LazyChildLogger {
  private made: Logger | null = null;

  constructor(
    private readonly parent: RequestLoggerParent,
    private readonly bindings: Record<string, unknown>,
  ) {}

  /** The parent's child logger: what Fastify would have made for this request. */
  private logger(): Logger {
    this.made ??= this.parent.child(this.bindings);
    return this.made;
  }

  private write(level: LevelName, args: unknown[]): void {
    if (this.made === null && !this.parent.isLevelEnabled(level)) return;
    (this.logger()[level] as (...line: unknown[]) => void)(...args);
  }

  get level(): string {
    return (this.made ?? this.parent).level;
  }
  set level(level: string) {
    this.logger().level = level;
  }

  /** Whether a line at `level` would be written: callers skip building one that would not. */
  isLevelEnabled(level: string): boolean {
    return (this.made ?? this.parent).isLevelEnabled(level);
  }

  fatal(...args: unknown[]): void {
    this.write('fatal', args);
  }
  error(...args: unknown[]): void {
    this.write('error', args);
  }
  warn(...args: unknown[]): void {
    this.write('warn', args);
  }
  info(...args: unknown[]): void {
    this.write('info', args);
  }
  debug(...args: unknown[]): void {
    this.write('debug', args);
  }
  trace(...args: unknown[]): void {
    this.write('trace', args);
  }
  silent(): void {}

  child(bindings: Record<string, unknown>, options?: object): Logger {
    return this.logger().child(bindings, options);
  }
}
