// Where webhooks may be sent: a target whose host resolves to a loopback, private, link-local
// (cloud metadata at 169.254.169.254), unspecified, CGNAT or multicast address is refused, unless
// WEBHOOK_ALLOW_PRIVATE_TARGETS; so a webhook cannot be used to reach the service's own network.
import { promises as dns, lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import type { Config } from '../config.ts';
import { StockholdError } from '../core/errors.ts';
import { isLoopbackName } from './loopback.ts';

export type LookupAll = (hostname: string) => Promise<LookupAddress[]>;

export interface WebhookTargetOptions {
  allow_private: boolean;
  /** Resolves every address of a host name; defaults to dns.promises.lookup (all: true). */
  lookup?: LookupAll;
}

/** ipaddr.js range names that never belong to a public webhook receiver. */
const FORBIDDEN_RANGES: ReadonlySet<string> = new Set([
  'unspecified',
  'loopback',
  'private',
  'uniqueLocal',
  'linkLocal',
  'carrierGradeNat',
  'broadcast',
  'multicast',
  'deprecatedSiteLocal',
]);

const defaultLookup: LookupAll = (hostname) => dns.lookup(hostname, { all: true, verbatim: true });

/** The IPv4 address an IPv6 address carries (IPv4-mapped, NAT64 64:ff9b::/96, 6to4 2002::/16), if any. */
function embeddedIpv4(address: ipaddr.IPv6): ipaddr.IPv4 | null {
  if (address.isIPv4MappedAddress()) return address.toIPv4Address();
  const parts = address.parts;
  // Byte offsets in the 16 bytes: NAT64 carries the IPv4 address in the last 4, 6to4 in bytes 2..5.
  const bytes = address.toByteArray();
  if (address.range() === 'rfc6052' && parts[0] === 0x64 && parts[1] === 0xff9b)
    return new ipaddr.IPv4(bytes.slice(12, 16));
  if (address.range() === '6to4') return new ipaddr.IPv4(bytes.slice(2, 6));
  return null;
}

/** Why an address may not be a webhook target (its range name), or null when it may. */
export function forbiddenRange(text: string): string | null {
  if (!ipaddr.isValid(text)) return 'not an IP address';
  const address = ipaddr.parse(text);
  const range = address.range();
  if (FORBIDDEN_RANGES.has(range)) return range;
  if (address.kind() === 'ipv6') {
    const inner = embeddedIpv4(address as ipaddr.IPv6);
    if (inner && FORBIDDEN_RANGES.has(inner.range())) return `${range} of ${inner.range()}`;
  }
  return null;
}

function refuse(url: URL, reason: string): StockholdError {
  return new StockholdError('webhook_target_forbidden', `webhook target ${url.host} is refused: ${reason}`, {
    host: url.hostname,
    reason,
  });
}

/**
 * Refuses a webhook URL whose host is, or resolves to, a forbidden address (every address of the
 * name is checked: one private answer is enough to refuse). Delivery connects through
 * `guardedLookup` too, so a name that changes its answer after this check (DNS rebinding) is caught.
 */
export async function checkWebhookTarget(url: URL, options: WebhookTargetOptions): Promise<void> {
  if (url.protocol !== 'https:' && url.protocol !== 'http:')
    throw refuse(url, `scheme ${url.protocol} is not http(s)`);
  if (options.allow_private) return;
  const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (ipaddr.isValid(host)) {
    const range = forbiddenRange(host);
    if (range !== null) throw refuse(url, `${host} is ${range}`);
    return;
  }
  if (isLoopbackName(host)) throw refuse(url, `${host} is loopback`);
  let addresses: LookupAddress[];
  try {
    addresses = await (options.lookup ?? defaultLookup)(host);
  } catch (error) {
    throw refuse(url, `${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  if (addresses.length === 0) throw refuse(url, `${host} does not resolve`);
  for (const { address } of addresses) {
    const range = forbiddenRange(address);
    if (range !== null) throw refuse(url, `${host} resolves to ${address} (${range})`);
  }
}

/**
 * A `lookup` for http.request / net.connect that applies the same policy at connect time, so the
 * address connected to is the address checked.
 */
export function guardedLookup(allow_private: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses) => {
      if (error) return callback(error, []);
      const bad = allow_private
        ? undefined
        : addresses.find((entry) => forbiddenRange(entry.address) !== null);
      if (bad) {
        const refused = new Error(`webhook target ${hostname} resolves to ${bad.address}, which is refused`);
        return callback(Object.assign(refused, { code: 'EWEBHOOKTARGET' }), []);
      }
      if (options.all) return callback(null, addresses);
      const [first] = addresses;
      if (first === undefined) {
        const none = new Error(`webhook target ${hostname} does not resolve`);
        return callback(Object.assign(none, { code: 'ENOTFOUND' }), []);
      }
      return callback(null, first.address, first.family);
    });
  };
}

/** WEBHOOK_ALLOW_PRIVATE_TARGETS, defaulting to true only on a loopback-bound server. */
export function allowPrivateWebhookTargets(
  config: Pick<Config, 'HOST' | 'WEBHOOK_ALLOW_PRIVATE_TARGETS'>,
): boolean {
  const value = config.WEBHOOK_ALLOW_PRIVATE_TARGETS;
  if (value === undefined) return isLoopbackName(config.HOST);
  return value === true || value === 'true';
}
