import { randomBytes } from 'node:crypto';

/** The name suffix alphabet of `names.SimpleNameGenerator` (no vowels, no look-alikes). */
const NAME_ALPHABET = 'bcdfghjklmnpqrstvwxz2456789';

/** A name from `generateName`, as the API server makes it: the prefix cut to 58 characters + 5 random ones. */
export function generateName(prefix: string): string {
  const suffix = [...randomBytes(5)].map((b) => NAME_ALPHABET[b % NAME_ALPHABET.length]).join('');
  return prefix.slice(0, 58) + suffix;
}
