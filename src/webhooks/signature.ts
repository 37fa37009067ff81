// Webhook signatures: `Stockhold-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, t + "." + body)>`.
// The timestamp is signed too, so a receiver can refuse replays older than a few minutes.
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export const SIGNATURE_HEADER = 'stockhold-signature';
export const EVENT_ID_HEADER = 'stockhold-event-id';
export const EVENT_TYPE_HEADER = 'stockhold-event-type';
export const DELIVERY_ID_HEADER = 'stockhold-delivery-id';

function signatureHex(secret: string, timestamp_seconds: number, body: string): string {
  return createHmac('sha256', secret).update(`${timestamp_seconds}.${body}`).digest('hex');
}

export function signatureHeader(secret: string, timestamp_seconds: number, body: string): string {
  return `t=${timestamp_seconds},v1=${signatureHex(secret, timestamp_seconds, body)}`;
}

/** What a receiver runs; here for the tests and as the reference the README copies. */
export function verifySignature(
  secret: string,
  header: string,
  body: string,
  now_seconds: number,
  tolerance_seconds = 300,
): boolean {
  const parts = new Map(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const timestamp_seconds = Number(parts.get('t'));
  const given = Buffer.from(parts.get('v1') ?? '', 'hex');
  if (!Number.isInteger(timestamp_seconds) || Math.abs(now_seconds - timestamp_seconds) > tolerance_seconds)
    return false;
  const expected = Buffer.from(signatureHex(secret, timestamp_seconds, body), 'hex');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A new endpoint secret: 32 random bytes, shown once. */
export function generateSecret(): string {
  return `whsec_${randomBytes(32).toString('base64url')}`;
}
