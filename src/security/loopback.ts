// What counts as loopback: for HOST (may the server run open?) and for the Host header in open mode.
import ipaddr from 'ipaddr.js';

/** localhost, 127.0.0.0/8, ::1 and their IPv4-mapped forms; brackets of an IPv6 literal are allowed. */
export function isLoopbackName(name: string): boolean {
  const host = name
    .trim()
    .toLowerCase()
    .replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (!ipaddr.isValid(host)) return false;
  return ipaddr.process(host).range() === 'loopback';
}
