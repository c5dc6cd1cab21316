import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError } from '../../src/errors.js';
import { authorized, sameSecret } from '../../src/http/credentials.js';
import { thrown } from '../support/thrown.js';

describe('the HTTP API and dashboard settings', () => {
  it('default to no token, no dashboard user, a read-only dashboard and sane limits', () => {
    const config = loadConfig({});
    expect(config.api).toEqual({ rateLimit: 600, rateLimitWindowSeconds: 60, bodyLimitBytes: 65_536 });
    expect(config.dashboard).toEqual({ readOnly: true });
  });

  it('reads them, the read-only switch in the usual words', () => {
    const config = loadConfig({
      KJL_API_TOKEN: 'a-token-of-sixteen+',
      KJL_DASHBOARD_USER: 'ops',
      KJL_DASHBOARD_PASSWORD: 'a-long-password',
      KJL_DASHBOARD_READ_ONLY: 'No',
    });
    expect(config.api.token).toBe('a-token-of-sixteen+');
    expect(config.dashboard).toEqual({ user: 'ops', password: 'a-long-password', readOnly: false });
    for (const [value, readOnly] of [
      ['true', true],
      ['1', true],
      ['off', false],
    ] as const) {
      expect(loadConfig({ KJL_DASHBOARD_READ_ONLY: value }).dashboard.readOnly).toBe(readOnly);
    }
  });

  it('reports every problem at once, and never echoes a secret', () => {
    const error = thrown(ConfigError, () =>
      loadConfig({
        KJL_API_TOKEN: 'short secret',
        KJL_DASHBOARD_USER: 'ops',
        KJL_API_RATE_LIMIT: '0',
      }),
    );
    expect(error.issues).toEqual([
      { variable: 'KJL_API_TOKEN', message: 'must be at least 16 characters' },
      { variable: 'KJL_API_TOKEN', message: 'must not contain whitespace' },
      { variable: 'KJL_API_RATE_LIMIT', message: 'Too small: expected number to be >=1 (got "0")' },
      { variable: 'KJL_DASHBOARD_PASSWORD', message: 'is required when KJL_DASHBOARD_USER is set' },
    ]);
    expect(thrown(ConfigError, () => loadConfig({ KJL_DASHBOARD_READ_ONLY: 'maybe' })).issues).toEqual([
      { variable: 'KJL_DASHBOARD_READ_ONLY', message: 'must be true or false (got "maybe")' },
    ]);
    expect(error.message).not.toContain('short secret');
    const password = thrown(ConfigError, () =>
      loadConfig({ KJL_DASHBOARD_USER: 'ops', KJL_DASHBOARD_PASSWORD: 'hunter2 with space' }),
    );
    expect(password.message).not.toContain('hunter2');
    expect(password.issues[0]).toEqual({
      variable: 'KJL_DASHBOARD_PASSWORD',
      message: 'must not contain whitespace',
    });
  });
});

describe('credentials', () => {
  const credentials = { token: 'the-api-token-0123', basic: { user: 'ops', password: 'pa:ss word' } };
  const basic = (text: string) => ({ authorization: `Basic ${Buffer.from(text).toString('base64')}` });

  it('take the token as a bearer, and the user and password as basic authentication', () => {
    expect(authorized({ authorization: 'Bearer the-api-token-0123' }, credentials)).toBe(true);
    expect(authorized({ authorization: 'bearer   the-api-token-0123 ' }, credentials)).toBe(true);
    expect(authorized(basic('ops:pa:ss word'), credentials)).toBe(true);
  });

  it('refuse anything else', () => {
    for (const headers of [
      {},
      { authorization: 'Bearer the-api-token-012' },
      { authorization: 'Bearer the-api-token-01234' },
      { authorization: 'the-api-token-0123' },
      basic('ops:pa:ss'),
      basic('op:pa:ss word'),
      basic('the-api-token-0123'),
      { authorization: 'Basic the-api-token-0123' },
    ]) {
      expect(authorized(headers, credentials), JSON.stringify(headers)).toBe(false);
    }
    expect(authorized({ authorization: 'Bearer x' }, { basic: credentials.basic })).toBe(false);
    expect(authorized(basic('ops:pa:ss word'), { token: credentials.token })).toBe(false);
  });

  it('compares secrets of any lengths', () => {
    expect(sameSecret('a', 'a')).toBe(true);
    expect(sameSecret('a', 'ab')).toBe(false);
    expect(sameSecret('', 'a')).toBe(false);
  });
});
