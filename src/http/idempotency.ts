// Reads the Idempotency-Key header and fingerprints what the request asks for.
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import stringify from 'safe-stable-stringify';
import type { Idempotency } from '../store/store.ts';

export function idempotencyOf(request: FastifyRequest): Idempotency | undefined {
  const key = request.headers['idempotency-key'];
  if (typeof key !== 'string') return undefined;
  // Same key, same route, same parameters and body (key order ignored) means the same request.
  const fingerprint = createHash('sha256')
    .update(`${request.method} ${request.routeOptions.url ?? request.url}\n`)
    .update(`${stringify(request.params ?? {})}\n${stringify(request.body ?? null)}`)
    .digest('base64url');
  // Each API key has its own key space: another key's Idempotency-Key never replays its answer.
  return { key: request.api_key ? `${request.api_key.id}/${key}` : key, fingerprint };
}
