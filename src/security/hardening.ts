// Security headers. Pages (the dashboard, the Swagger UI at /docs) get helmet's policy, with a
// content security policy that lets them load their own scripts and styles and nothing from
// elsewhere. Every other answer (the API under /v1, health and readiness, the OpenAPI document,
// metrics, a 404 for an unknown path) is data, never a document to render, and gets the short set
// OWASP's REST Security Cheat Sheet names for APIs: a policy that lets it load nothing and be framed
// by nothing, no MIME sniffing, no framing, same-origin reads only, no referrer. Helmet's other
// headers govern how a browser treats a page; on the hot path they were 560 of a checkout answer's
// 940 bytes, written by the server and parsed by every client (and 480 of /healthz's 740).
//
// The headers never vary by request (no nonces), so helmet runs once at start and each answer gets
// the same set: @fastify/helmet rebuilt and re-parsed the whole policy on every request, about 7%
// of a checkout's CPU on the hot path.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import helmet from 'helmet';

const middleware = helmet({
  contentSecurityPolicy: {
    useDefaults: false,
    directives: {
      'default-src': ["'self'"],
      'script-src': ["'self'"],
      // Swagger UI sets inline style attributes; styles cannot run code.
      'style-src': ["'self'", "'unsafe-inline'"],
      'img-src': ["'self'", 'data:'],
      'font-src': ["'self'", 'data:'],
      'connect-src': ["'self'"],
      'object-src': ["'none'"],
      'base-uri': ["'self'"],
      'form-action': ["'self'"],
      'frame-ancestors': ["'none'"],
    },
  },
  // The service speaks plain HTTP behind whatever terminates TLS; HSTS belongs to that proxy.
  strictTransportSecurity: false,
});

/** The headers helmet sets, read off one run of its middleware against a recording response. */
function helmetHeaders(): Record<string, string> {
  const headers: Record<string, string> = {};
  const recorder = {
    setHeader(name: string, value: string) {
      headers[name.toLowerCase()] = value;
    },
    removeHeader(name: string) {
      delete headers[name.toLowerCase()];
    },
  };
  let error: unknown = null;
  middleware({} as IncomingMessage, recorder as unknown as ServerResponse, (failure?: unknown) => {
    error = failure ?? null;
  });
  if (error) throw error;
  return headers;
}

/** What every API answer carries: JSON that no browser should render, frame or sniff. */
const API_HEADERS: Readonly<Record<string, string>> = {
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'cross-origin-resource-policy': 'same-origin',
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
};

/**
 * Whether a request URL is one of the pages a browser renders: the dashboard (`/`, its assets and
 * icon), a drop's waiting page (`/drops/{id}`) and the Swagger UI (`/docs` and below). Read off the
 * URL, which every answer has (a 404 too).
 */
export function isPageUrl(url: string): boolean {
  return (
    url === '/' ||
    url.startsWith('/?') ||
    url.startsWith('/docs') ||
    url.startsWith('/drops/') ||
    url.startsWith('/assets/') ||
    url.startsWith('/favicon.')
  );
}

export async function securityHeaders(app: FastifyInstance): Promise<void> {
  const page_headers = helmetHeaders();
  // A callback hook, not an async one: no promise per request on the hot path.
  app.addHook('onRequest', (request, reply, done) => {
    reply.headers(isPageUrl(request.url) ? page_headers : API_HEADERS);
    done();
  });
}
