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

  describe('where builds run', () => {
    it('leaves node selector, tolerations, priority class, pull secrets and runtime class unset by default', () => {
      const { k8s } = loadConfig({});
      expect([
        k8s.nodeSelector,
        k8s.tolerations,
        k8s.priorityClassName,
        k8s.imagePullSecrets,
        k8s.runtimeClassName,
      ]).toEqual([undefined, undefined, undefined, undefined, undefined]);
    });

    it('parses each of them', () => {
      const { k8s } = loadConfig({
        KJL_NODE_SELECTOR: 'disktype=ssd, topology.kubernetes.io/zone=eu-west-1a',
        KJL_TOLERATIONS:
          '[{"key":"dedicated","operator":"Equal","value":"builds","effect":"NoSchedule"},{"operator":"Exists","effect":"NoExecute","tolerationSeconds":60}]',
        KJL_PRIORITY_CLASS: 'batch-low',
        KJL_IMAGE_PULL_SECRETS: 'registry-a, registry.b',
        KJL_RUNTIME_CLASS: 'gvisor',
      });
      expect(k8s.nodeSelector).toEqual({ disktype: 'ssd', 'topology.kubernetes.io/zone': 'eu-west-1a' });
      expect(k8s.tolerations).toEqual([
        { key: 'dedicated', operator: 'Equal', value: 'builds', effect: 'NoSchedule' },
        { operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 60 },
      ]);
      expect(k8s.priorityClassName).toBe('batch-low');
      expect(k8s.imagePullSecrets).toEqual(['registry-a', 'registry.b']);
      expect(k8s.runtimeClassName).toBe('gvisor');
    });

    it('reports every bad one with its variable, the entry and the field', () => {
      const error = (() => {
        try {
          loadConfig({
            KJL_NODE_SELECTOR: 'disktype=ssd,zone',
            KJL_TOLERATIONS: '[{"key":"dedicated","operator":"Equal","value":"builds","effect":"Sometimes"}]',
            KJL_PRIORITY_CLASS: 'Batch_Low',
            KJL_IMAGE_PULL_SECRETS: 'ok,NOT OK',
            KJL_RUNTIME_CLASS: 'g/visor',
          });
        } catch (caught) {
          return caught as ConfigError;
        }
        throw new Error('loadConfig accepted them');
      })();
      expect(error).toBeInstanceOf(ConfigError);
      const byVariable = Object.fromEntries(error.issues.map((issue) => [issue.variable, issue.message]));
      expect(Object.keys(byVariable).sort()).toEqual([
        'KJL_IMAGE_PULL_SECRETS',
        'KJL_NODE_SELECTOR',
        'KJL_PRIORITY_CLASS',
        'KJL_RUNTIME_CLASS',
        'KJL_TOLERATIONS',
      ]);
      expect(byVariable.KJL_NODE_SELECTOR).toMatch(/^"zone" is not key=value/);
      expect(byVariable.KJL_TOLERATIONS).toMatch(/^\[0\]\.effect: Invalid option/);
      expect(byVariable.KJL_IMAGE_PULL_SECRETS).toMatch(/^\[1\]: must be a DNS subdomain/);
      expect(byVariable.KJL_PRIORITY_CLASS).toMatch(/must be a DNS subdomain/);
    });

    it('says a toleration list that is not JSON, or an entry the API server would refuse, is wrong', () => {
      expect(() => loadConfig({ KJL_TOLERATIONS: 'dedicated=builds:NoSchedule' })).toThrow(
        /KJL_TOLERATIONS: must be a JSON array of tolerations: Unexpected token/,
      );
      expect(() => loadConfig({ KJL_TOLERATIONS: '{"key":"a"}' })).toThrow(
        /KJL_TOLERATIONS: must be a JSON array of tolerations/,
      );
      expect(() => loadConfig({ KJL_TOLERATIONS: '[{"effect":"NoSchedule"}]' })).toThrow(
        /KJL_TOLERATIONS: \[0\]\.operator: must be Exists when key is empty/,
      );
      expect(() => loadConfig({ KJL_TOLERATIONS: '[{"key":"a","tolerationSeconds":5}]' })).toThrow(
        /KJL_TOLERATIONS: \[0\]\.effect: must be NoExecute when tolerationSeconds is set/,
      );
      expect(() => loadConfig({ KJL_TOLERATIONS: '[{"key":"a","tolerations":1}]' })).toThrow(
        /KJL_TOLERATIONS: \[0\]: Unrecognized key: "tolerations"/,
      );
    });
  });
});
