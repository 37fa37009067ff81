// Time-ordered ids (UUIDv7) for orders, webhooks and keys. uuid's own v7 asks the system for 16
// random bytes per id (crypto.getRandomValues), which was 4-5% of a checkout's CPU on the hot path;
// here the bytes come from a pool refilled 256 ids at a time.
import { randomBytes, randomFillSync, randomInt } from 'node:crypto';
import { v7 as uuidv7 } from 'uuid';

const ID_BYTES = 16;
const pool = new Uint8Array(ID_BYTES * 256);
const pool_view = new DataView(pool.buffer);
let pool_offset = pool.length;
/** The last id's millisecond and counter: ids made in the same millisecond still sort in order. */
let last_ms = Number.NEGATIVE_INFINITY;
let seq = 0;

export function newId(): string {
  if (pool_offset === pool.length) {
    randomFillSync(pool);
    pool_offset = 0;
  }
  const random = pool.subarray(pool_offset, pool_offset + ID_BYTES);
  pool_offset += ID_BYTES;
  const now_ms = Date.now();
  if (now_ms > last_ms) {
    last_ms = now_ms;
    // A random 31-bit start, as uuid does, so ids of two processes in one millisecond do not collide:
    // bytes 6..9 of the id's random bytes, big-endian, without the top bit.
    seq = pool_view.getUint32(random.byteOffset + 6) & 0x7fffffff;
  } else {
    seq = (seq + 1) | 0;
    if (seq === 0) last_ms += 1;
  }
  return uuidv7({ random, msecs: last_ms, seq });
}

/** A secret, unguessable id with a prefix that says what it is (a drop's ticket, an admission token). */
export function newSecretId(prefix: string): string {
  return `${prefix}_${randomBytes(16).toString('base64url')}`;
}

/** A uniformly random integer in [0, 2^48): a ticket's draw for the random pre-queue. */
export function randomDraw(): number {
  return randomInt(0, 2 ** 48 - 1);
}
