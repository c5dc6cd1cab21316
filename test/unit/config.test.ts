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

  it('reports a bad events sink and the rules of a service together with every other violation', () => {
    let error: unknown;
    try {
      loadConfig({ KJL_EVENTS_SINK: 'build-events', KJL_MAX_CONCURRENT_JOBS: '0' }, {}, 'service');
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).issues.map((issue) => issue.variable).sort()).toEqual([
      'KJL_EVENTS_SINK',
      'KJL_MAX_CONCURRENT_JOBS',
      'KJL_SQS_QUEUE_URL',
    ]);
  });

  it('needs no SQS queue for a one-shot command or a worker', () => {
    expect(() => loadConfig({})).not.toThrow();
    expect(() => loadConfig({ KJL_ROLE: 'worker' }, {}, 'service')).not.toThrow();
  });

  it("derives the deployment's instance from the queue unless it is given", () => {
    expect(loadConfig({}).k8s.instance).toBe('kjl-builds');
    expect(loadConfig({ KJL_QUEUE_NAME: 'images' }).k8s.instance).toBe('kjl-images');
    expect(loadConfig({ KJL_INSTANCE: 'team-a' }).k8s.instance).toBe('team-a');
  });

  it('parses the events sink once, at load', () => {
    expect(loadConfig({}).events.sink).toEqual({ kind: 'none' });
    expect(loadConfig({ KJL_EVENTS_SINK: 'https://hooks.example.com/kjl' }).events.sink).toEqual({
      kind: 'http',
      url: 'https://hooks.example.com/kjl',
    });
  });
});
