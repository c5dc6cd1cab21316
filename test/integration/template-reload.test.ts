import { mkdtemp, readdir, readlink, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requestIdOf } from '../../src/build-request.js';
import { jobNameFor } from '../../src/k8s/job-name.js';
import { writeConfigMapVolume } from '../support/configmap-volume.js';
import { createSetup, ofType, useStack } from '../support/stack.js';

const stack = useStack();

/** A one-container Job template whose Jobs carry `template-version: <version>`. */
function template(version: string, image = 'busybox:1.36'): string {
  return [
    'apiVersion: batch/v1',
    'kind: Job',
    'metadata:',
    `  labels: { template-version: ${version} }`,
    'spec:',
    '  template:',
    '    spec:',
    `      containers: [{ name: main, image: '${image}', command: ['true'] }]`,
  ].join('\n');
}

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kjl-configmap-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('Job templates from a mounted ConfigMap', () => {
  it('takes a valid update for the next Job without a restart, and refuses an invalid one naming the file and field', async () => {
    await writeConfigMapVolume(dir, { 'generic.yaml': template('v1'), 'notes.txt': 'not a template' });
    const setup = await createSetup(stack.infra, {
      KJL_TEMPLATES_DIR: dir,
      KJL_TEMPLATES: 'generic',
      KJL_DEFAULT_TEMPLATE: 'generic',
    });
    const kjl = await stack.spawn(setup);
    const versionOf = async (parserId: string) => {
      const build = { thirdPartyId: 'tpl', parserId, contentHash: '0123abcdef' };
      await setup.publish([build]);
      await setup.waitForEvents(
        `${parserId} to succeed`,
        (all) => ofType(all, 'succeeded', requestIdOf(build)).length === 1,
      );
      const job = stack.infra.cluster.store.get(
        'jobs',
        setup.namespace,
        jobNameFor(build, setup.config.k8s.instance),
      );
      return job.metadata.labels?.['template-version'];
    };
    expect(await versionOf('first')).toBe('v1');

    await writeConfigMapVolume(dir, { 'generic.yaml': template('v2') });
    // the layout is the kubelet's: the file is a symlink into ..data, itself a symlink to the new folder
    expect(await readlink(join(dir, 'generic.yaml'))).toBe(join('..data', 'generic.yaml'));
    expect((await readdir(dir)).filter((name) => name.startsWith('..2'))).toHaveLength(1);
    await kjl.waitFor(/templates reloaded/);
    expect(await versionOf('second')).toBe('v2');

    await writeConfigMapVolume(dir, { 'generic.yaml': template('v3', '{{imagee}}') });
    const refused = await kjl.waitFor(/"msg":"templates not reloaded, the previous ones stay: [^"]*"/);
    expect(refused[0]).toContain(
      `${join(dir, 'generic.yaml')}: spec.template.spec.containers[0].image: unknown placeholder {{imagee}}`,
    );
    expect(await versionOf('third')).toBe('v2');

    // a valid set after the invalid one is taken again
    await writeConfigMapVolume(dir, { 'generic.yaml': template('v4') });
    await kjl.waitFor(/templates reloaded[\s\S]*templates reloaded/);
    expect(await versionOf('fourth')).toBe('v4');
  });
});
