import { describe, expect, it } from 'vitest';
import { contentTag, DNS1123_LABEL, jobNameFor, MAX_JOB_NAME_LENGTH } from '../../src/k8s/job-name.js';

const HASH = 'deadbeefcafebabe0123456789abcdef';
const INSTANCE = 'kjl-builds';
const TAG = contentTag(HASH, INSTANCE);
const name = (thirdPartyId: string, parserId: string, contentHash = HASH) =>
  jobNameFor({ thirdPartyId, parserId, contentHash }, INSTANCE);

function expectValid(jobName: string): void {
  expect(jobName.length).toBeLessThanOrEqual(MAX_JOB_NAME_LENGTH);
  expect(jobName).toMatch(DNS1123_LABEL);
  expect(jobName).toMatch(/^build-/);
  expect(jobName).not.toMatch(/--/);
}

describe('jobNameFor', () => {
  it('is build-{thirdPartyId}-{parserId}-{contentTag} for plain ids', () => {
    expect(TAG).toMatch(/^deadbeef[0-9a-f]{6}$/);
    expect(name('acme', 'invoice-parser')).toBe(`build-acme-invoice-parser-${TAG}`);
  });

  it('differs between two deployments (instances) building the same content', () => {
    const request = { thirdPartyId: 'acme', parserId: 'p', contentHash: HASH };
    expect(jobNameFor(request, 'team-a')).not.toBe(jobNameFor(request, 'team-b'));
  });

  it('differs for two contents whose hashes share their first 8 characters', () => {
    const first = name('acme', 'p', 'deadbeef00000000');
    const second = name('acme', 'p', 'deadbeef11111111');
    expect(first).not.toBe(second);
    expect(first).toMatch(/^build-acme-p-deadbeef[0-9a-f]{6}$/);
  });

  it('is deterministic', () => {
    expect(name('Acme.Corp', 'p_1')).toBe(name('Acme.Corp', 'p_1'));
    expect(name('x'.repeat(63), 'y'.repeat(63))).toBe(name('x'.repeat(63), 'y'.repeat(63)));
  });

  it('changes with the content hash', () => {
    expect(name('acme', 'p', 'aaaaaaaa00')).not.toBe(name('acme', 'p', 'bbbbbbbb00'));
  });

  it('uses the lower-cased content hash', () => {
    expect(name('acme', 'p', 'DEADBEEF99')).toBe(name('acme', 'p', 'deadbeef99'));
  });

  it('stays a DNS-1123 label of at most 63 characters for 63-character ids', () => {
    const ids = [
      'a'.repeat(63),
      'Z'.repeat(63),
      `-${'b'.repeat(61)}-`,
      `.${'_'.repeat(61)}.`,
      `a${'-'.repeat(61)}a`,
    ];
    for (const thirdPartyId of ids) {
      for (const parserId of ids) expectValid(name(thirdPartyId, parserId));
    }
  });

  it('makes odd ids safe: upper case, dots, underscores, leading and trailing separators', () => {
    for (const [tp, p] of [
      ['ACME', 'Parser'],
      ['a.b', 'c_d'],
      ['-lead', 'trail-'],
      ['...', '___'],
      ['_', '-'],
      ['a__b', 'c..d'],
    ] as const) {
      expectValid(name(tp, p));
    }
    expect(name('Acme.Corp', 'PDF_parser')).toMatch(
      new RegExp(`^build-acme-corp-pdf-parser-[0-9a-f]{8}-${TAG}$`),
    );
  });

  it('keeps ids that differ only past the cut apart', () => {
    const base = 'x'.repeat(60);
    const a = name(`${base}aaa`, 'parser');
    const b = name(`${base}bbb`, 'parser');
    expectValid(a);
    expectValid(b);
    expect(a).not.toBe(b);
    const c = name('acme', `${'p'.repeat(60)}001`);
    const d = name('acme', `${'p'.repeat(60)}002`);
    expect(c).not.toBe(d);
  });

  it('keeps ids apart that sanitise to the same text', () => {
    const pairs: [[string, string], [string, string]][] = [
      [
        ['a.b', 'p'],
        ['a-b', 'p'],
      ],
      [
        ['a', 'b.c'],
        ['a', 'b-c'],
      ],
      [
        ['acme', 'Parser'],
        ['acme', 'parser'],
      ],
      [
        ['a_b', 'p'],
        ['a.b', 'p'],
      ],
      [
        ['a--b', 'p'],
        ['a-b', 'p'],
      ],
    ];
    for (const [[tp1, p1], [tp2, p2]] of pairs) {
      expect(name(tp1, p1)).not.toBe(name(tp2, p2));
    }
  });

  it('keeps apart targets whose plain names would join to the same text', () => {
    // build-a-b-c-deadbeef could be a-b/c or a/b-c
    expect(name('a-b', 'c')).not.toBe(name('a', 'b-c'));
    expectValid(name('a-b', 'c'));
  });

  it('produces no collisions over a spread of similar ids', () => {
    const ids = [
      'a',
      'A',
      'a.b',
      'a-b',
      'a_b',
      'a.B',
      'ab',
      '-a',
      'a-',
      '_a',
      'a..b',
      'x'.repeat(63),
      `${'x'.repeat(62)}y`,
    ];
    const seen = new Map<string, string>();
    for (const tp of ids) {
      for (const p of ids) {
        const jobName = name(tp, p);
        expectValid(jobName);
        const key = `${tp}/${p}`;
        expect(seen.get(jobName) ?? key).toBe(key);
        seen.set(jobName, key);
      }
    }
    expect(seen.size).toBe(ids.length * ids.length);
  });
});
