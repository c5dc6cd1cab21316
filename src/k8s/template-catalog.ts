import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { V1Job } from '@kubernetes/client-node';
import { parseAllDocuments } from 'yaml';
import { TemplateError, type TemplateIssue } from '../errors.js';
import { TEMPLATE_DIRECTIVES } from './labels.js';

/**
 * The variables a template may use, as `{{name}}` (spaces inside the braces allowed) anywhere
 * inside a string value. A placeholder is replaced inside the one string it stands in, after the
 * YAML has been parsed, so a value never becomes structure. There is no escape: a `{{` that is not
 * a known placeholder is an error.
 */
export const TEMPLATE_VARIABLES = [
  'thirdPartyId',
  'parserId',
  /** the full content hash (lower-case hex) */
  'contentHash',
  /** its first 8 hex characters */
  'hash8',
  'requestId',
  /** the build-context bucket (KJL_BUILD_CONTEXT_BUCKET) */
  'bucket',
  'registry',
  'repository',
  /** the request's buildContext, or `s3://{bucket}/build-context/{parserId}/context.tar.gz` */
  'buildContext',
  /** the image reference to push: `{registry}/{repository}:{thirdPartyId}-{parserId}-{hash8}` */
  'image',
  /** the namespace the Job is created in */
  'namespace',
] as const;

export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];
export type TemplateValues = Readonly<Record<TemplateVariable, string>>;

/** Anything that starts like a placeholder; what matches PLACEHOLDER inside it is one. */
const OPENING = /\{\{/g;
const PLACEHOLDER = /\{\{\s*([A-Za-z][A-Za-z0-9]*)\s*\}\}/g;
const KNOWN = new Set<string>(TEMPLATE_VARIABLES);
const TEMPLATE_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const CONTAINER_NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** A loaded, validated template. `manifest` is deep-frozen and still holds its placeholders. */
export interface JobTemplate {
  readonly name: string;
  readonly file: string;
  readonly manifest: Readonly<V1Job>;
  /** the container that gets the request's env and resources (directive, or the first container) */
  readonly mainContainer: string;
  /** the variables the template uses */
  readonly variables: readonly TemplateVariable[];
}

/** Replaces every placeholder in `text`. Templates are validated at load, so all names are known. */
export function fillPlaceholders(text: string, values: TemplateValues): string {
  return text.replace(PLACEHOLDER, (token, name: string) =>
    KNOWN.has(name) ? values[name as TemplateVariable] : token,
  );
}

/** Returns a deep copy of `value` with every string passed through `fill`. Keys are not touched. */
export function mapStrings<T>(value: T, fill: (text: string) => string): T {
  if (typeof value === 'string') return fill(value) as T;
  if (Array.isArray(value)) return value.map((item: unknown) => mapStrings(item, fill)) as T;
  if (value && typeof value === 'object') {
    return Object.fromEntries(
      Object.entries(value).map(([key, item]) => [key, mapStrings(item as unknown, fill)]),
    ) as T;
  }
  return value;
}

type Json = Record<string, unknown>;

function isMap(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fieldOf(path: readonly (string | number)[]): string {
  return path.reduce<string>(
    (text, key) => (typeof key === 'number' ? `${text}[${key}]` : text ? `${text}.${key}` : key),
    '',
  );
}

/** Every placeholder problem in the tree, and the variables used. */
function scanPlaceholders(
  value: unknown,
  path: (string | number)[],
  report: (field: string, message: string) => void,
  used: Set<TemplateVariable>,
): void {
  if (typeof value === 'string') {
    const openings = value.match(OPENING)?.length ?? 0;
    let found = 0;
    for (const match of value.matchAll(PLACEHOLDER)) {
      found += 1;
      const name = match[1]!;
      if (KNOWN.has(name)) used.add(name as TemplateVariable);
      else {
        report(
          fieldOf(path),
          `unknown placeholder ${match[0]} (known: ${TEMPLATE_VARIABLES.map((known) => `{{${known}}}`).join(', ')})`,
        );
      }
    }
    if (openings > found) report(fieldOf(path), `malformed placeholder in ${JSON.stringify(value)}`);
    return;
  }
  if (Array.isArray(value)) {
    value.forEach((item, index) => scanPlaceholders(item, [...path, index], report, used));
    return;
  }
  if (isMap(value)) {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes('{{')) report(fieldOf([...path, key]), 'placeholders are not allowed in keys');
      scanPlaceholders(item, [...path, key], report, used);
    }
  }
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/**
 * Parses and validates one template. Throws TemplateError listing every problem, each with the file
 * and the field. Pure: `file` is only used in messages.
 */
export function parseTemplate(name: string, file: string, text: string): JobTemplate {
  const issues: TemplateIssue[] = [];
  const report = (field: string | undefined, message: string) =>
    issues.push(field ? { file, field, message } : { file, message });
  const fail = () => new TemplateError(issues, { context: { template: name } });

  const documents = parseAllDocuments(text, { prettyErrors: true, uniqueKeys: true });
  if (!Array.isArray(documents) || documents.length === 0) {
    report(undefined, 'is empty: expected a Job manifest');
    throw fail();
  }
  if (documents.length > 1) report(undefined, `holds ${documents.length} YAML documents: expected one Job`);
  const document = documents[0]!;
  for (const error of document.errors) {
    const at = error.linePos?.[0];
    report(at ? `line ${at.line}, column ${at.col}` : undefined, `YAML ${error.code}: ${error.message}`);
  }
  if (issues.length > 0) throw fail();

  const manifest: unknown = document.toJS({ maxAliasCount: 100 });
  if (!isMap(manifest)) {
    report(undefined, 'must be a YAML mapping (a Job manifest)');
    throw fail();
  }
  if (manifest.apiVersion !== 'batch/v1') report('apiVersion', 'must be batch/v1');
  if (manifest.kind !== 'Job') report('kind', 'must be Job');

  const metadata = manifest.metadata ?? {};
  if (!isMap(metadata)) report('metadata', 'must be a mapping');
  else {
    for (const key of ['name', 'generateName', 'namespace']) {
      if (key in metadata) report(`metadata.${key}`, 'is set by kjl; remove it from the template');
    }
    for (const key of ['labels', 'annotations']) {
      if (key in metadata && !isStringMap(metadata[key])) {
        report(`metadata.${key}`, 'must be a mapping of strings');
      }
    }
  }
  const annotations = isMap(metadata) && isStringMap(metadata.annotations) ? metadata.annotations : {};

  const spec = manifest.spec;
  const podSpec = isMap(spec) && isMap(spec.template) ? spec.template.spec : undefined;
  let mainContainer = '';
  if (!isMap(spec)) report('spec', 'is required and must be a mapping');
  else {
    for (const key of ['selector', 'manualSelector']) {
      if (key in spec) report(`spec.${key}`, 'is set by the API server; remove it from the template');
    }
    if (!isMap(spec.template)) report('spec.template', 'is required and must be a mapping');
    else if (!isMap(podSpec)) report('spec.template.spec', 'is required and must be a mapping');
  }
  if (isMap(podSpec)) {
    const restartPolicy = podSpec.restartPolicy;
    if (restartPolicy !== undefined && restartPolicy !== 'Never' && restartPolicy !== 'OnFailure') {
      report('spec.template.spec.restartPolicy', 'must be Never or OnFailure');
    }
    const names = new Set<string>();
    const containers = checkContainers(podSpec, 'containers', names, report, true);
    checkContainers(podSpec, 'initContainers', names, report, false);
    const declared = annotations[TEMPLATE_DIRECTIVES.mainContainer];
    if (declared !== undefined) {
      if (containers.includes(declared)) mainContainer = declared;
      else {
        report(
          `metadata.annotations["${TEMPLATE_DIRECTIVES.mainContainer}"]`,
          `names container ${JSON.stringify(declared)}, which is not in spec.template.spec.containers (${containers.join(', ') || 'none'})`,
        );
      }
    } else mainContainer = containers[0] ?? '';
  }

  const used = new Set<TemplateVariable>();
  scanPlaceholders(manifest, [], report, used);
  if (issues.length > 0) throw fail();

  return deepFreeze({
    name,
    file,
    manifest: manifest as V1Job,
    mainContainer,
    variables: TEMPLATE_VARIABLES.filter((variable) => used.has(variable)),
  });
}

function isStringMap(value: unknown): value is Record<string, string> {
  return isMap(value) && Object.values(value).every((item) => typeof item === 'string');
}

/** Checks `containers` or `initContainers`; returns the valid names found. */
function checkContainers(
  podSpec: Json,
  key: 'containers' | 'initContainers',
  names: Set<string>,
  report: (field: string, message: string) => void,
  required: boolean,
): string[] {
  const field = `spec.template.spec.${key}`;
  const list = podSpec[key];
  if (list === undefined && !required) return [];
  if (!Array.isArray(list) || (required && list.length === 0)) {
    report(field, required ? 'must be a non-empty list of containers' : 'must be a list of containers');
    return [];
  }
  const found: string[] = [];
  list.forEach((container: unknown, index) => {
    const at = `${field}[${index}]`;
    if (!isMap(container)) {
      report(at, 'must be a mapping');
      return;
    }
    const name = container.name;
    if (typeof name !== 'string' || !CONTAINER_NAME.test(name) || name.length > 63) {
      report(`${at}.name`, 'must be a DNS-1123 label (lower-case letters, digits and -, at most 63)');
    } else if (names.has(name)) report(`${at}.name`, `duplicate container name ${JSON.stringify(name)}`);
    else {
      names.add(name);
      found.push(name);
    }
    if (typeof container.image !== 'string' || container.image.trim() === '') {
      report(`${at}.image`, 'is required');
    }
    if (container.env !== undefined && !Array.isArray(container.env)) report(`${at}.env`, 'must be a list');
  });
  return found;
}

/** The templates of the allowlist, loaded once at start. */
export class TemplateCatalog {
  readonly #templates: ReadonlyMap<string, JobTemplate>;

  constructor(templates: readonly JobTemplate[]) {
    this.#templates = new Map(templates.map((template) => [template.name, template]));
  }

  get names(): string[] {
    return [...this.#templates.keys()];
  }

  has(name: string): boolean {
    return this.#templates.has(name);
  }

  /** The template called `name`; TemplateError when it is not in the catalog. */
  get(name: string): JobTemplate {
    const template = this.#templates.get(name);
    if (!template) {
      throw new TemplateError([
        {
          file: `${name}.yaml`,
          message: `template ${JSON.stringify(name)} is not loaded (allowlist: ${this.names.join(', ')})`,
        },
      ]);
    }
    return template;
  }
}

/**
 * Reads and validates `<dir>/<name>.yaml` for every name of the allowlist. Throws one TemplateError
 * listing every problem of every file (missing file, bad YAML, unknown placeholder, …).
 */
export async function loadTemplateCatalog(dir: string, names: readonly string[]): Promise<TemplateCatalog> {
  const issues: TemplateIssue[] = [];
  const templates: JobTemplate[] = [];
  for (const name of new Set(names)) {
    const file = join(dir, `${name}.yaml`);
    if (!TEMPLATE_NAME.test(name)) {
      issues.push({
        file,
        message: `template name ${JSON.stringify(name)} must be lower-case letters, digits and -`,
      });
      continue;
    }
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      issues.push({
        file,
        message:
          code === 'ENOENT'
            ? `template ${JSON.stringify(name)} is in the allowlist (KJL_TEMPLATES) but the file does not exist`
            : `cannot be read: ${(error as Error).message}`,
      });
      continue;
    }
    try {
      templates.push(parseTemplate(name, file, text));
    } catch (error) {
      if (error instanceof TemplateError) issues.push(...error.issues);
      else throw error;
    }
  }
  if (issues.length > 0) throw new TemplateError(issues, { context: { templatesDir: dir } });
  return new TemplateCatalog(templates);
}
