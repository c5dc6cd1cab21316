import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { SETTINGS } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

describe('loadConfig', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig({});
    expect(config.queue.maxConcurrentJobs).toBe(10);
    expect(config.queue.failureBackoffSeconds).toBe(300);
    expect(config.k8s.namespace).toBe('default');
    expect(config.redis.url).toBe('redis://127.0.0.1:6379');
    expect(config.k8s.templates).toEqual(['kaniko', 'generic']);
    expect(Object.isFrozen(config.queue)).toBe(true);
  });

  it('reads environment variables and lets flags override them', () => {
    const config = loadConfig(
      { KJL_MAX_CONCURRENT_JOBS: '3', KJL_NAMESPACE: 'builds' },
      { KJL_MAX_CONCURRENT_JOBS: '7' },
    );
    expect(config.queue.maxConcurrentJobs).toBe(7);
    expect(config.k8s.namespace).toBe('builds');
  });

  it('reports every violation at once, each with its variable name', () => {
    let error: unknown;
    try {
      loadConfig({
        KJL_MAX_CONCURRENT_JOBS: 'ten',
        KJL_REDIS_URL: 'http://not-redis',
        KJL_SQS_QUEUE_URL: 'not a url',
      });
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const issues = (error as ConfigError).issues;
    expect(issues.map((issue) => issue.variable).sort()).toEqual([
      'KJL_MAX_CONCURRENT_JOBS',
      'KJL_REDIS_URL',
      'KJL_SQS_QUEUE_URL',
    ]);
    expect((error as ConfigError).message).toContain('3 errors');
    expect((error as ConfigError).message).toContain('KJL_REDIS_URL: must be a redis:// or rediss:// URL');
  });

  it('checks cross-field rules: heartbeat below visibility timeout', () => {
    expect(() =>
      loadConfig({ KJL_SQS_VISIBILITY_TIMEOUT_SECONDS: '30', KJL_SQS_HEARTBEAT_SECONDS: '30' }),
    ).toThrow(/KJL_SQS_HEARTBEAT_SECONDS: must be less than KJL_SQS_VISIBILITY_TIMEOUT_SECONDS \(30\)/);
  });

  it('has one environment variable per setting', () => {
    const names = SETTINGS.map((setting) => setting.env);
    expect(new Set(names).size).toBe(names.length);
  });
});
