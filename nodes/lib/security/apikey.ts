/** Bearer API key checks that take the same time whatever the guess. */
import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (s: string) => createHash('sha256').update(s).digest();

export function bearerMatches(header: string | undefined, key: string): boolean {
  if (!key || !header) return false;
  const m = /^Bearer\s+(.+)$/i.exec(header.trim());
  if (!m) return false;
  return timingSafeEqual(digest(m[1].trim()), digest(key));
}
