// npm run test:faults [-- --long] [-- <vitest filters>]: the fault suite. `--long` runs the
// randomized run in its long form (more builds, more faults) instead of the short one CI runs.
import { spawnSync } from 'node:child_process';

const args = process.argv.slice(2);
const long = args.includes('--long');
const rest = args.filter((arg) => arg !== '--long');
const result = spawnSync('npx', ['vitest', 'run', '--config', 'vitest.faults.config.ts', ...rest], {
  stdio: 'inherit',
  env: { ...process.env, ...(long ? { KJL_FAULTS_LONG: '1' } : {}) },
});
process.exit(result.status ?? 1);
