import { describe, expect, it } from 'vitest';
import { boundLogTail } from '../../src/k8s/log-tail.js';

const limits = { lines: 5, bytes: 100, lineBytes: 30 };

describe('boundLogTail', () => {
  it('keeps the last lines, in order', () => {
    const text = Array.from({ length: 8 }, (_, i) => `line ${i}`).join('\n') + '\n';
    expect(boundLogTail(text, limits)).toEqual(['line 3', 'line 4', 'line 5', 'line 6', 'line 7']);
  });

  it('cuts a long line and marks it, on a character boundary', () => {
    const [line] = boundLogTail(`${'é'.repeat(40)}\n`, limits);
    expect(Buffer.byteLength(line!)).toBeLessThanOrEqual(30);
    expect(line).toMatch(/^é+ …\[cut\]$/);
  });

  it('keeps the newest lines within the byte budget, whatever one line held', () => {
    const huge = 'x'.repeat(6 * 1024 * 1024);
    const tail = boundLogTail(`${huge}\nnpm ERR! code EJSONPARSE\nexit 1\n`, {
      lines: 100,
      bytes: 16_384,
      lineBytes: 2048,
    });
    expect(tail.slice(-2)).toEqual(['npm ERR! code EJSONPARSE', 'exit 1']);
    expect(Buffer.byteLength(tail.join('\n'))).toBeLessThanOrEqual(16_384);
  });

  it('keeps nothing of a line that no longer fits, rather than part of it', () => {
    expect(boundLogTail('aaaaaaaaaa\nbbbbbbbbbb\n', { lines: 5, bytes: 15, lineBytes: 30 })).toEqual([
      'bbbbbbbbbb',
    ]);
  });
});
