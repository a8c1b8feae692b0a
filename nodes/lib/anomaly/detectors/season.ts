/** Finding the length of a repeating pattern from history, by autocorrelation. */

/**
 * The lag (in readings) with the strongest autocorrelation peak, or 0 when no
 * lag repeats the pattern clearly. Biased autocorrelation (divided by n)
 * favours the shortest of a period and its multiples.
 */
export function detectSeason(values: ArrayLike<number>, minLag = 4, minCorrelation = 0.3): number {
  const n = values.length;
  const maxLag = Math.floor(n / 2);
  if (maxLag <= minLag + 1) return 0;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += values[i];
  mean /= n;
  const x = new Float64Array(n);
  let c0 = 0;
  for (let i = 0; i < n; i++) {
    x[i] = values[i] - mean;
    c0 += x[i] * x[i];
  }
  if (c0 === 0) return 0;
  const acf = new Float64Array(maxLag + 2);
  for (let lag = minLag - 1; lag <= maxLag + 1 && lag < n; lag++) {
    let c = 0;
    for (let i = lag; i < n; i++) c += x[i] * x[i - lag];
    acf[lag] = c / c0;
  }
  let best = 0;
  let bestAcf = minCorrelation;
  for (let lag = minLag; lag <= maxLag; lag++) {
    const a = acf[lag];
    if (a > bestAcf && a >= acf[lag - 1] && a >= acf[lag + 1]) {
      best = lag;
      bestAcf = a;
    }
  }
  return best;
}

/** Median gap between readings: the step of a season counted in readings. */
export function medianStep(ts: ArrayLike<number>): number {
  const gaps: number[] = [];
  for (let i = 1; i < ts.length; i++) if (ts[i] > ts[i - 1]) gaps.push(ts[i] - ts[i - 1]);
  if (gaps.length === 0) return 1000;
  gaps.sort((a, b) => a - b);
  return gaps[gaps.length >> 1];
}
