import { kubeletRulesSchema, type KubeletRule, type LogLine } from './kubelet-rules.js';

/** The label `kjl dev` keys its scenarios on: a build's parser id. */
const PARSER_ID = 'kjl.dev/parser-id';

/** What a Kaniko executor prints up to the point where `tail` takes over. */
function kanikoLines(tail: LogLine[]): LogLine[] {
  return [
    { after: 0.1, text: 'INFO[0000] Retrieving image manifest node:20-alpine' },
    { after: 0.2, text: 'INFO[0000] Retrieving image node:20-alpine from registry index.docker.io' },
    { after: 0.4, text: 'INFO[0001] Built cross stage deps: map[]' },
    { after: 0.5, text: 'INFO[0001] Executing 0 build triggers' },
    { after: 0.6, text: "INFO[0001] Building stage 'node:20-alpine' [idx: '0', base-idx: '-1']" },
    { after: 0.8, text: 'INFO[0001] Unpacking rootfs as cmd COPY . /app requires it.' },
    { after: 1.0, text: 'INFO[0002] COPY . /app' },
    { after: 1.1, text: 'INFO[0002] Taking snapshot of files...' },
    { after: 1.2, text: 'INFO[0002] RUN npm ci --omit=dev' },
    ...tail,
  ];
}

const PUSHED: LogLine[] = [
  { after: 1.6, text: 'INFO[0003] Taking snapshot of full filesystem...' },
  { after: 1.8, text: 'INFO[0003] Pushing image to registry.local:5000/parsers/parser:latest' },
  {
    after: 1.95,
    text: 'INFO[0004] Pushed registry.local:5000/parsers/parser@sha256:4f1c2a9e0b7d3c6e8a5f2b1d9c7e4a3b6d8f0e2c4a6b8d0f1e3c5a7b9d2f4e6a',
  },
];

/**
 * The scenarios `kjl dev` shows without a cluster, by the `kjl.dev/parser-id` label of the build:
 * `invalid-*` fails (exit 1), `oom-*` is OOMKilled, `evict-*` is evicted, `pull-*` never pulls its
 * image, `slow-*` runs for a minute; every other build succeeds after about 2 s.
 */
export const DEV_RULES: KubeletRule[] = kubeletRulesSchema.parse([
  {
    name: 'invalid build',
    match: { labels: { [PARSER_ID]: 'invalid-*' } },
    action: 'fail',
    exitCode: 1,
    seconds: 1.5,
    logs: kanikoLines([
      { after: 1.3, text: 'npm ERR! code EJSONPARSE' },
      {
        after: 1.35,
        text: 'npm ERR! JSON.parse Unexpected token } in JSON at position 112 while parsing package.json',
      },
      {
        after: 1.4,
        text: 'error building image: error building stage: failed to execute command: waiting for process to exit: exit status 1',
      },
    ]),
  },
  {
    name: 'out of memory',
    match: { labels: { [PARSER_ID]: 'oom-*' } },
    action: 'oom',
    seconds: 1.5,
    logs: kanikoLines([]),
  },
  {
    name: 'evicted',
    match: { labels: { [PARSER_ID]: 'evict-*' } },
    action: 'evict',
    seconds: 1.5,
    logs: kanikoLines([]),
  },
  { name: 'image never pulls', match: { labels: { [PARSER_ID]: 'pull-*' } }, action: 'pullError' },
  {
    name: 'slow build',
    match: { labels: { [PARSER_ID]: 'slow-*' } },
    action: 'succeed',
    seconds: 60,
    logs: kanikoLines(PUSHED.map((line) => ({ ...line, after: (line.after ?? 0) + 57 }))),
  },
  { name: 'build', action: 'succeed', seconds: 2, logs: kanikoLines(PUSHED) },
]);
