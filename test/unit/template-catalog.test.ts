import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { TemplateError } from '../../src/errors.js';
import { thrown } from '../support/thrown.js';
import {
  fillPlaceholders,
  loadTemplateCatalog,
  parseTemplate,
  TEMPLATE_VARIABLES,
  type TemplateValues,
} from '../../src/k8s/template-catalog.js';

const SHIPPED = fileURLToPath(new URL('../../templates', import.meta.url));

const MINIMAL = `apiVersion: batch/v1
kind: Job
spec:
  template:
    spec:
      containers:
        - name: main
          image: busybox:1.37
          args: ['{{parserId}}']
`;

const issuesOf = (action: () => unknown) => thrown(TemplateError, action);

async function rejectionOf(promise: Promise<unknown>): Promise<TemplateError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(TemplateError);
  return error as TemplateError;
}

describe('the shipped templates', () => {
  it('load and validate', async () => {
    const catalog = await loadTemplateCatalog(SHIPPED, ['kaniko', 'generic']);
    expect(catalog.names).toEqual(['kaniko', 'generic']);
    const kaniko = catalog.get('kaniko');
    expect(kaniko.file).toBe(join(SHIPPED, 'kaniko.yaml'));
    expect(kaniko.mainContainer).toBe('kaniko');
    expect(kaniko.variables).toEqual(expect.arrayContaining(['buildContext', 'image', 'requestId']));
    expect(kaniko.manifest.spec?.template.spec?.containers[0]?.image).toBe(
      'gcr.io/kaniko-project/executor:v1.23.2',
    );
    expect(Object.isFrozen(kaniko.manifest.spec?.template.spec?.containers)).toBe(true);
    expect(catalog.get('generic').mainContainer).toBe('main');
  });

  it('reports an unknown template name with the allowlist', async () => {
    const catalog = await loadTemplateCatalog(SHIPPED, ['generic']);
    expect(catalog.has('kaniko')).toBe(false);
    expect(() => catalog.get('kaniko')).toThrow(/template "kaniko" is not loaded \(allowlist: generic\)/);
  });
});

describe('parseTemplate', () => {
  it('returns the manifest with its placeholders and the main container', () => {
    const template = parseTemplate('mini', 'mini.yaml', MINIMAL);
    expect(template.mainContainer).toBe('main');
    expect(template.variables).toEqual(['parserId']);
    expect(template.manifest.spec?.template.spec?.containers[0]?.args).toEqual(['{{parserId}}']);
  });

  it('names file and field of an unknown placeholder', () => {
    const error = issuesOf(() =>
      parseTemplate(
        'bad',
        'templates/bad.yaml',
        MINIMAL.replace("['{{parserId}}']", "['ok', '--tag={{ tag }}']"),
      ),
    );
    expect(error.code).toBe('KJL_TEMPLATE_INVALID');
    expect(error.issues).toEqual([
      {
        file: 'templates/bad.yaml',
        field: 'spec.template.spec.containers[0].args[1]',
        message: expect.stringContaining('unknown placeholder {{ tag }}'),
      },
    ]);
    expect(error.message).toContain(
      'templates/bad.yaml: spec.template.spec.containers[0].args[1]: unknown placeholder',
    );
    expect(error.context).toMatchObject({
      file: 'templates/bad.yaml',
      field: 'spec.template.spec.containers[0].args[1]',
    });
  });

  it('rejects malformed placeholders and placeholders in keys', () => {
    const error = issuesOf(() =>
      parseTemplate(
        'bad',
        'bad.yaml',
        MINIMAL.replace("['{{parserId}}']", "['{{parserId']").replace(
          'kind: Job',
          "kind: Job\nmetadata:\n  labels:\n    '{{parserId}}': x",
        ),
      ),
    );
    expect(error.issues.map((issue) => issue.field)).toEqual([
      'metadata.labels.{{parserId}}',
      'spec.template.spec.containers[0].args[0]',
    ]);
    expect(error.issues[1]?.message).toMatch(/malformed placeholder/);
  });

  it('names file and position of bad YAML', () => {
    const error = issuesOf(() =>
      parseTemplate('bad', 'bad.yaml', 'apiVersion: batch/v1\nkind: [Job\nspec: {}\n'),
    );
    expect(error.issues[0]?.file).toBe('bad.yaml');
    expect(error.issues[0]?.field).toMatch(/^line \d+, column \d+$/);
    expect(error.issues[0]?.message).toMatch(/^YAML /);
  });

  it('rejects duplicate keys, several documents, and non-mappings', () => {
    expect(issuesOf(() => parseTemplate('d', 'd.yaml', 'kind: Job\nkind: Job\n')).issues[0]?.message).toMatch(
      /YAML/,
    );
    expect(
      issuesOf(() => parseTemplate('m', 'm.yaml', `${MINIMAL}---\n${MINIMAL}`)).issues[0]?.message,
    ).toMatch(/2 YAML documents/);
    expect(issuesOf(() => parseTemplate('l', 'l.yaml', '- a\n- b\n')).issues[0]?.message).toMatch(/mapping/);
    expect(issuesOf(() => parseTemplate('e', 'e.yaml', '')).issues[0]?.message).toMatch(/empty/);
  });

  it('checks the Job shape field by field, all at once', () => {
    const text = `apiVersion: v1
kind: Pod
metadata:
  name: fixed
  annotations:
    kjl.dev/main-container: missing
spec:
  selector: {}
  template:
    spec:
      restartPolicy: Always
      containers:
        - name: Main_1
        - name: ok
          image: busybox
        - name: ok
          image: busybox
`;
    const error = issuesOf(() => parseTemplate('shape', 'shape.yaml', text));
    expect(error.issues.map((issue) => issue.field)).toEqual([
      'apiVersion',
      'kind',
      'metadata.name',
      'spec.selector',
      'spec.template.spec.restartPolicy',
      'spec.template.spec.containers[0].name',
      'spec.template.spec.containers[0].image',
      'spec.template.spec.containers[2].name',
      'metadata.annotations["kjl.dev/main-container"]',
    ]);
    expect(error.message).toContain('shape.yaml: metadata.name: is set by kjl');
  });

  it('requires at least one container', () => {
    const error = issuesOf(() =>
      parseTemplate(
        'none',
        'none.yaml',
        'apiVersion: batch/v1\nkind: Job\nspec:\n  template:\n    spec:\n      containers: []\n',
      ),
    );
    expect(error.issues).toEqual([
      {
        file: 'none.yaml',
        field: 'spec.template.spec.containers',
        message: 'must be a non-empty list of containers',
      },
    ]);
  });
});

describe('fillPlaceholders', () => {
  const values = Object.fromEntries(TEMPLATE_VARIABLES.map((name) => [name, `<${name}>`])) as TemplateValues;

  it('replaces each placeholder inside the string, spaces allowed', () => {
    expect(fillPlaceholders('--destination={{ image }} {{hash8}}{{hash8}}', values)).toBe(
      '--destination=<image> <hash8><hash8>',
    );
  });

  it('does not re-read placeholders that a value contains', () => {
    expect(fillPlaceholders('{{parserId}}', { ...values, parserId: '{{bucket}}' })).toBe('{{bucket}}');
  });
});

describe('loadTemplateCatalog', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'kjl-templates-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reports every broken file of the allowlist at once, naming file and field', async () => {
    await writeFile(join(dir, 'good.yaml'), MINIMAL);
    await writeFile(join(dir, 'unknown.yaml'), MINIMAL.replace('{{parserId}}', '{{secret}}'));
    await writeFile(join(dir, 'broken.yaml'), 'spec: {template: [\n');
    const error = await rejectionOf(loadTemplateCatalog(dir, ['good', 'unknown', 'broken', 'missing']));
    const byFile = Object.fromEntries(error.issues.map((issue) => [issue.file, issue]));
    expect(Object.keys(byFile).sort()).toEqual(
      ['broken.yaml', 'missing.yaml', 'unknown.yaml'].map((file) => join(dir, file)).sort(),
    );
    expect(byFile[join(dir, 'unknown.yaml')]).toMatchObject({
      field: 'spec.template.spec.containers[0].args[0]',
      message: expect.stringContaining('{{secret}}'),
    });
    expect(byFile[join(dir, 'missing.yaml')]?.message).toBe(
      'template "missing" is in the allowlist (KJL_TEMPLATES) but the file does not exist',
    );
    expect(byFile[join(dir, 'broken.yaml')]?.message).toMatch(/^YAML /);
    expect(error.message).toContain(join(dir, 'missing.yaml'));
  });

  it('refuses template names that are not plain names', async () => {
    const error = await rejectionOf(loadTemplateCatalog(dir, ['../etc/passwd']));
    expect(error.issues[0]?.message).toMatch(/must be lower-case letters, digits and -/);
  });

  it('loads a folder of valid templates', async () => {
    await writeFile(join(dir, 'mini.yaml'), MINIMAL);
    const catalog = await loadTemplateCatalog(dir, ['mini']);
    expect(catalog.get('mini').variables).toEqual(['parserId']);
  });
});
