// Follows GET /v1/events with fetch() (EventSource cannot send an Authorization header): parses the
// text/event-stream frames, resumes with Last-Event-ID and reconnects with back-off by itself.
import { askForKey, authHeaders } from './api.ts';

export interface SseMessage {
  id: string | null;
  event: string;
  data: string;
}

/** Incremental text/event-stream parser (the WHATWG rules the server's frames need). */
export class SseParser {
  private buffer = '';
  private data: string[] = [];
  private event = '';
  private id: string | null = null;
  /** Lines longer than this are a broken stream, not something to buffer. */
  private static readonly LINE_LENGTH_MAX = 1024 * 1024;

  push(chunk: string): SseMessage[] {
    this.buffer += chunk;
    const messages: SseMessage[] = [];
    for (;;) {
      const end = this.buffer.search(/\r\n|\r|\n/);
      if (end === -1) break;
      const line = this.buffer.slice(0, end);
      const newline_length = this.buffer.startsWith('\r\n', end) ? 2 : 1;
      // A lone \r at the end of a chunk may be the first half of \r\n: wait for the next chunk.
      if (this.buffer[end] === '\r' && end + 1 === this.buffer.length) break;
      this.buffer = this.buffer.slice(end + newline_length);
      const message = this.line(line);
      if (message) messages.push(message);
    }
    if (this.buffer.length > SseParser.LINE_LENGTH_MAX) throw new Error('event stream line too long');
    return messages;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      const message =
        this.data.length > 0
          ? { id: this.id, event: this.event || 'message', data: this.data.join('\n') }
          : null;
      this.data = [];
      this.event = '';
      return message;
    }
    if (line.startsWith(':')) return null;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
    else if (field === 'event') this.event = value;
    else if (field === 'id' && !value.includes('\0')) this.id = value;
    return null;
  }
}

export type ConnectionStatus = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

export interface FollowOptions {
  url: string;
  on_message: (message: SseMessage) => void;
  on_status: (status: ConnectionStatus, detail: string) => void;
  /** The server sends a comment every 15 s: this long without a byte means the connection is dead. */
  silence_ms_max?: number;
  backoff_ms_min?: number;
  backoff_ms_max?: number;
}

export function followEvents(options: FollowOptions): { stop: () => void } {
  const silence_ms_max = options.silence_ms_max ?? 40_000;
  const backoff_ms_min = options.backoff_ms_min ?? 250;
  const backoff_ms_max = options.backoff_ms_max ?? 8_000;
  let stopped = false;
  let controller: AbortController | null = null;
  let last_event_id: string | null = null;

  const run = async () => {
    let failures = 0;
    while (!stopped) {
      options.on_status(failures === 0 ? 'connecting' : 'reconnecting', 'connecting');
      controller = new AbortController();
      let watchdog: ReturnType<typeof setTimeout> | undefined;
      const arm = () => {
        clearTimeout(watchdog);
        watchdog = setTimeout(() => controller?.abort(), silence_ms_max);
      };
      try {
        const headers: Record<string, string> = { accept: 'text/event-stream', ...authHeaders() };
        if (last_event_id !== null) headers['last-event-id'] = last_event_id;
        arm();
        const response = await fetch(options.url, { headers, signal: controller.signal, cache: 'no-store' });
        if (response.status === 401 || response.status === 403) {
          clearTimeout(watchdog);
          const reason =
            response.status === 401
              ? 'The live event stream needs an API key.'
              : 'This API key may not read the event stream (it needs the read scope).';
          options.on_status('unauthorized', reason);
          await askForKey(reason);
          continue;
        }
        if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
        failures = 0;
        options.on_status(
          'live',
          last_event_id === null ? 'live' : `live (resumed after event ${last_event_id})`,
        );
        const parser = new SseParser();
        const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          arm();
          for (const message of parser.push(value)) {
            if (message.id !== null) last_event_id = message.id;
            options.on_message(message);
          }
        }
      } catch {
        // Connection refused, reset or aborted by the watchdog: reconnect below.
      } finally {
        clearTimeout(watchdog);
      }
      if (stopped) break;
      failures += 1;
      // Exponential back-off with jitter, so a restarted server is not met by every page at once.
      const delay_ms =
        Math.min(backoff_ms_max, backoff_ms_min * 2 ** (failures - 1)) * (0.5 + Math.random() / 2);
      options.on_status('reconnecting', `reconnecting in ${(delay_ms / 1000).toFixed(1)} s`);
      await new Promise((resolve) => setTimeout(resolve, delay_ms));
    }
  };
  void run();
  return {
    stop() {
      stopped = true;
      controller?.abort();
    },
  };
}
