/**
 * The locale key for a count: `<key>One` when there is exactly one, `<key>` otherwise. Locales keep the
 * singular as its own sentence ("1 file written") rather than a plural suffix, which not every language adds.
 */
export function countKey(key: string, n: number): string {
  return n === 1 ? `${key}One` : key;
}
