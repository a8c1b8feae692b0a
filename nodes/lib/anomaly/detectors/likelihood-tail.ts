/** Tail probabilities of the standard normal distribution, in -log10, and how they read to a person. */
import { formatNumber } from '../format';

/** ln erfc(z) for z >= 0 (Numerical Recipes' erfcc, relative error below 1.2e-7), kept in logs so the far tail does not round to 0. */
function lnErfc(z: number): number {
  const t = 1 / (1 + 0.5 * z);
  return (
    Math.log(t) -
    z * z -
    1.26551223 +
    t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))))
  );
}

/** -log10 of the upper tail of the standard normal distribution at x: 1.3 at x = 1.64, 6.5 at x = 5. */
export function log10Tail(x: number): number {
  if (x >= 0) return -(lnErfc(x / Math.SQRT2) + Math.log(0.5)) / Math.LN10;
  // Below the mean the tail is more than half: nothing unusual.
  return -Math.log10(1 - 0.5 * Math.exp(lnErfc(-x / Math.SQRT2)));
}

/** "about once in 49,181 readings", "... 3.2 million readings", from -log10 of a probability. */
export function odds(l: number): string {
  const once = Math.pow(10, l);
  if (once < 1e6) return `about once in ${Math.round(once).toLocaleString('en-US')} readings`;
  if (once < 1e9) return `about once in ${formatNumber(once / 1e6)} million readings`;
  if (once < 1e12) return `about once in ${formatNumber(once / 1e9)} billion readings`;
  return 'less than once in a million million readings';
}
