// The webhook target policy: literal addresses and names resolved by a stub lookup (no network).
import { describe, expect, it } from 'vitest';
import { StockholdError } from '../../src/core/errors.ts';
import {
  allowPrivateWebhookTargets,
  checkWebhookTarget,
  type LookupAll,
} from '../../src/security/webhook-targets.ts';

const stubLookup =
  (answers: Record<string, string[]>): LookupAll =>
  async (hostname) => {
    const addresses = answers[hostname];
    if (!addresses) throw Object.assign(new Error('not found'), { code: 'ENOTFOUND' });
    return addresses.map((address) => ({ address, family: address.includes(':') ? 6 : 4 }));
  };

async function refusal(url: string, lookup?: LookupAll): Promise<StockholdError | null> {
  try {
    await checkWebhookTarget(new URL(url), { allow_private: false, lookup: lookup ?? stubLookup({}) });
    return null;
  } catch (error) {
    return error as StockholdError;
  }
}

describe('webhook targets', () => {
  const forbidden = [
    ['http://127.0.0.1/hook', 'loopback'],
    ['http://127.8.9.10/hook', 'loopback'],
    ['http://[::1]/hook', 'loopback'],
    ['http://localhost:8080/hook', 'loopback'],
    ['http://10.1.2.3/hook', 'private'],
    ['http://172.16.0.1/hook', 'private'],
    ['http://172.31.255.255/hook', 'private'],
    ['http://192.168.1.1/hook', 'private'],
    ['http://169.254.169.254/latest/meta-data/', 'linkLocal'],
    ['http://[fe80::1]/hook', 'linkLocal'],
    ['http://[fd00::1]/hook', 'uniqueLocal'],
    ['http://[fc00::1]/hook', 'uniqueLocal'],
    ['http://0.0.0.0/hook', 'unspecified'],
    ['http://[::]/hook', 'unspecified'],
    ['http://100.64.0.1/hook', 'carrierGradeNat'],
    ['http://[::ffff:127.0.0.1]/hook', 'loopback'],
    ['http://[::ffff:169.254.169.254]/hook', 'linkLocal'],
    ['http://[64:ff9b::a00:1]/hook', 'private'],
    ['http://2130706433/hook', 'loopback'],
    ['http://224.0.0.1/hook', 'multicast'],
  ] as const;
  for (const [url, reason] of forbidden) {
    it(`refuses ${url} (${reason}) with webhook_target_forbidden`, async () => {
      const error = await refusal(url);
      expect(error).toBeInstanceOf(StockholdError);
      expect(error!.code).toBe('webhook_target_forbidden');
      expect(error!.status).toBe(422);
      expect(error!.message).toContain(reason);
    });
  }

  it('accepts public addresses: 93.184.215.14, 172.32.0.1, 100.128.0.1 and 2606:4700::1', async () => {
    for (const url of [
      'https://93.184.215.14/h',
      'http://172.32.0.1/h',
      'http://100.128.0.1/h',
      'https://[2606:4700::1]/h',
    ]) {
      expect(await refusal(url), url).toBeNull();
    }
  });

  it('resolves a name and refuses it when any of its addresses is private', async () => {
    const lookup = stubLookup({
      'shop.example': ['93.184.215.14'],
      'rebind.example': ['93.184.215.14', '10.0.0.5'],
      'metadata.example': ['169.254.169.254'],
      'v6.example': ['2606:4700::1', 'fe80::1'],
    });
    expect(await refusal('https://shop.example/hook', lookup)).toBeNull();
    expect((await refusal('https://rebind.example/hook', lookup))?.message).toContain('10.0.0.5 (private)');
    expect((await refusal('https://metadata.example/hook', lookup))?.message).toContain('linkLocal');
    expect((await refusal('https://v6.example/hook', lookup))?.message).toContain('fe80::1');
  });

  it('refuses a name that does not resolve, and a scheme other than http(s)', async () => {
    expect((await refusal('https://nowhere.example/hook'))?.message).toContain('does not resolve');
    expect((await refusal('ftp://93.184.215.14/hook'))?.message).toContain('not http(s)');
    expect((await refusal('file:///etc/passwd'))?.code).toBe('webhook_target_forbidden');
  });

  it('allows private targets when allow_private is set (a loopback-bound server by default)', async () => {
    await checkWebhookTarget(new URL('http://127.0.0.1:9000/hook'), { allow_private: true });
    expect(allowPrivateWebhookTargets({ HOST: '127.0.0.1' })).toBe(true);
    expect(allowPrivateWebhookTargets({ HOST: '::1' })).toBe(true);
    expect(allowPrivateWebhookTargets({ HOST: '0.0.0.0' })).toBe(false);
    expect(allowPrivateWebhookTargets({ HOST: '0.0.0.0', WEBHOOK_ALLOW_PRIVATE_TARGETS: 'true' })).toBe(true);
    expect(allowPrivateWebhookTargets({ HOST: '127.0.0.1', WEBHOOK_ALLOW_PRIVATE_TARGETS: false })).toBe(
      false,
    );
  });
});
