// How a request carries an API key. What a key is lives in src/core/api-keys.ts, the api_keys table
// in src/store/api-key-repository.ts; a key is shown once, at creation, and only its hash is stored.
import { API_KEY_LENGTH_MAX } from '../core/api-keys.ts';
import { assert } from '../core/errors.ts';

/** Reads `Authorization: Bearer <key>`; anything else is no key. */
export function bearerKey(header: string | undefined): string | null {
  if (header === undefined) return null;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (!match) return null;
  const key = match[1];
  assert(key !== undefined, 'the pattern has one group, and it always takes part in a match');
  return key.length <= API_KEY_LENGTH_MAX ? key : null;
}
