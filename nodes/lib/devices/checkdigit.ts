/**
 * Check characters for device ids: Luhn mod N over the alphabet 0-9a-z (N = 36),
 * so a mistyped id (one wrong character, most swaps of two neighbours) is
 * refused where it arrives instead of creating a stray device. Letters count
 * case-insensitively; other characters (`-`, `_`, `.`, `:`, `@`) are separators
 * and do not count, so `plug-001` and `plug001` carry the same check character.
 */
const ALPHABET = '0123456789abcdefghijklmnopqrstuvwxyz';
const N = ALPHABET.length;

function codePoints(text: string): number[] | undefined {
  const out: number[] = [];
  for (const ch of text.toLowerCase()) {
    const i = ALPHABET.indexOf(ch);
    if (i >= 0) out.push(i);
    else if (!/[-_.:@]/.test(ch)) return undefined;
  }
  return out;
}

/** The check character for `base`, or undefined when it holds characters outside the alphabet and separators. */
export function checkCharacter(base: string): string | undefined {
  const points = codePoints(base);
  if (!points || points.length === 0) return undefined;
  let factor = 2;
  let sum = 0;
  for (let i = points.length - 1; i >= 0; i--) {
    let addend = factor * points[i];
    factor = factor === 2 ? 1 : 2;
    addend = Math.floor(addend / N) + (addend % N);
    sum += addend;
  }
  return ALPHABET[(N - (sum % N)) % N];
}

/** True when the last character of `id` is the check character of the rest. */
export function hasValidCheck(id: string): boolean {
  if (id.length < 2) return false;
  const last = id[id.length - 1].toLowerCase();
  return checkCharacter(id.slice(0, -1)) === last;
}

/** `base` with its check character appended. */
export function withCheck(base: string): string | undefined {
  const c = checkCharacter(base);
  return c === undefined ? undefined : base + c;
}
