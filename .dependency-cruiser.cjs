/**
 * The layering rules `npm run lint:deps` checks (part of `npm run check`): no import cycles; the
 * adapters (intake, queue, k8s, events, http) never import each other; the application layer
 * imports no adapter; only the command line (the composition root) and the dev stand-ins wire
 * adapters together.
 */
const ADAPTERS = ['intake', 'queue', 'k8s', 'events', 'http'];

module.exports = {
  forbidden: [
    {
      name: 'no-cycles',
      severity: 'error',
      comment: 'An import cycle: split the shared part out, or use `import type`.',
      from: {},
      to: { circular: true },
    },
    ...ADAPTERS.map((adapter) => ({
      name: `no-${adapter}-to-other-adapters`,
      severity: 'error',
      comment: `${adapter}/ is an adapter: it takes what it needs in its options, it does not import another adapter.`,
      from: { path: `^src/${adapter}/` },
      to: { path: `^src/(${ADAPTERS.filter((other) => other !== adapter).join('|')})/` },
    })),
    {
      name: 'no-app-to-adapters',
      severity: 'error',
      comment: 'app/ defines ports; the adapters implement them and cli/runtime.ts wires them.',
      from: { path: '^src/app/' },
      to: { path: `^src/(${ADAPTERS.join('|')}|cli|dev)/` },
    },
    {
      name: 'no-shared-to-layers',
      severity: 'error',
      comment: 'The shared modules at the top of src/ and config/ stay below every layer.',
      from: { path: '^src/([^/]+\\.ts|config/)' },
      to: { path: `^src/(${ADAPTERS.join('|')}|app|cli|dev)/` },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
