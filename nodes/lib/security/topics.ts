/**
 * Set relations between MQTT topic filters, for access rules: whether a filter
 * a client asks for can match any topic of a protected space (intersects), and
 * whether every topic it can match lies inside an allowed space (within).
 * Filters are split on `/`; `+` is one level, `#` the rest (and the parent).
 * Levels are compared without recursion.
 */

function levels(filter: string): string[] {
  return filter.split('/');
}

/** True when some topic matches both filters. */
export function filtersIntersect(a: string, b: string): boolean {
  const x = levels(a);
  const y = levels(b);
  const n = Math.max(x.length, y.length);
  for (let i = 0; i < n; i++) {
    const p = x[i];
    const q = y[i];
    if (p === '#' || q === '#') return true;
    if (p === undefined || q === undefined) return false;
    if (p === '+' || q === '+') continue;
    if (p !== q) return false;
  }
  return true;
}

/** True when every topic `filter` matches is matched by `allowed` as well. */
export function filterWithin(filter: string, allowed: string): boolean {
  const f = levels(filter);
  const a = levels(allowed);
  for (let i = 0; i < f.length; i++) {
    const al = a[i];
    const fl = f[i];
    if (al === '#') return true;
    if (al === undefined) return false;
    if (fl === '#') return false;
    if (al === '+') continue;
    if (fl === '+' || fl !== al) return false;
  }
  // `a/#` also matches `a`: a filter that ends where `allowed` has a trailing `#` is inside it.
  return f.length === a.length || (f.length === a.length - 1 && a[a.length - 1] === '#');
}

/** The literal level `i` of a filter, or undefined when it is a wildcard or missing. */
export function literalLevel(filter: string, i: number): string | undefined {
  // Asked for every PUBLISH (the device level of its topic): found by indexOf, without splitting the topic.
  let start = 0;
  for (let k = 0; k < i; k++) {
    const slash = filter.indexOf('/', start);
    if (slash < 0) return undefined;
    start = slash + 1;
  }
  const end = filter.indexOf('/', start);
  const l = end < 0 ? filter.slice(start) : filter.slice(start, end);
  return l === '+' || l === '#' ? undefined : l;
}
