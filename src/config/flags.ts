/** The command-line flag of a setting: `KJL_MAX_CONCURRENT_JOBS` → `--max-concurrent-jobs`, `AWS_REGION` → `--aws-region`. */
export function flagOf(variable: string): string {
  return `--${variable.replace(/^KJL_/, '').toLowerCase().replace(/_/g, '-')}`;
}
