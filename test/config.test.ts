import { describe, expect, it } from 'vitest';
import { ConfigError, databaseLocation, loadConfig } from '../src/config.ts';

describe('configuration', () => {
  it('uses the documented defaults', () => {
    expect(loadConfig({}, undefined)).toMatchObject({
      PORT: 3000,
      HOST: '127.0.0.1',
      DATABASE_URL: 'sqlite:./data/stockhold.db',
      SWEEP_INTERVAL_MS: 1000,
      DEFAULT_HOLD_SECONDS: 900,
      LOG_LEVEL: 'info',
    });
  });

  it.each([
    [{ PORT: 'abc' }, 'PORT'],
    [{ PORT: '70000' }, 'PORT'],
    [{ SWEEP_INTERVAL_MS: '-5' }, 'SWEEP_INTERVAL_MS'],
    [{ DEFAULT_HOLD_SECONDS: '0' }, 'DEFAULT_HOLD_SECONDS'],
    [{ DATABASE_URL: 'mysql://x' }, 'DATABASE_URL'],
    [{ LOG_LEVEL: 'loud' }, 'LOG_LEVEL'],
    [{ COALESCE: 'maybe' }, 'COALESCE'],
  ])('refuses %o with a message naming %s', (env, key) => {
    expect(() => loadConfig(env, undefined)).toThrow(ConfigError);
    expect(() => loadConfig(env, undefined)).toThrow(key);
  });

  it('fills in PGUSER and PGPASSWORD when the URL names no user', () => {
    const location = databaseLocation(
      loadConfig(
        { DATABASE_URL: 'postgres://db.internal:5432/shop', PGUSER: 'stock', PGPASSWORD: 'p@ss' },
        undefined,
      ),
    );
    expect(location).toEqual({ kind: 'postgres', url: 'postgres://stock:p%40ss@db.internal:5432/shop' });
  });
});
