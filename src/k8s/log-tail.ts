/** How much of a failed container's log is kept (with the failure, in Redis and in `kjl failed list`). */
export interface LogTailLimits {
  /** the last lines asked for (`tailLines`) */
  lines: number;
  /** the most bytes kept, all lines together */
  bytes: number;
  /** the most bytes kept of one line; a longer line is cut and marked */
  lineBytes: number;
  /** the most bytes read from the API server in one read (`limitBytes`), whatever the lines hold */
  readBytes: number;
}

const CUT = ' …[cut]';

function cutLine(line: string, maxBytes: number): string {
  if (Buffer.byteLength(line) <= maxBytes) return line;
  const room = Math.max(0, maxBytes - Buffer.byteLength(CUT));
  // cut on a character boundary: decode the kept bytes, dropping a split character
  const kept = Buffer.from(line)
    .subarray(0, room)
    .toString('utf8')
    .replace(/\uFFFD$/, '');
  return `${kept}${CUT}`;
}

/**
 * The last lines of a log that fit the limits: each line at most `lineBytes`, all of them at most
 * `bytes`, newest kept first. Pure.
 */
export function boundLogTail(
  text: string,
  limits: Pick<LogTailLimits, 'lines' | 'bytes' | 'lineBytes'>,
): string[] {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  const kept: string[] = [];
  let total = 0;
  for (let index = lines.length - 1; index >= 0 && kept.length < limits.lines; index--) {
    const line = cutLine(lines[index]!, limits.lineBytes);
    const size = Buffer.byteLength(line) + 1;
    if (total + size > limits.bytes) break;
    kept.push(line);
    total += size;
  }
  return kept.reverse();
}
