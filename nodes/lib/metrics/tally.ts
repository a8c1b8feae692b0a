/**
 * Counters the hot path can afford: an increment is one addition on a plain
 * object made in advance, never an allocation or a label lookup. prom-client
 * reads the values only when /metrics is scraped (see registry.ts).
 */

export class Tally {
  value = 0;

  inc(n = 1): void {
    this.value += n;
  }
}

/**
 * A counter family with labels. child() is looked up once (at deploy, or per
 * batch for values that vary) and the Tally it returns is kept by the caller.
 * The number of label sets is bounded: past `maxChildren`, new label values
 * share one child whose labels read "other", so a flood of distinct values
 * (e.g. error codes from a user's function node) cannot grow memory.
 */
export class LabeledTally {
  private readonly children = new Map<string, { labels: string[]; tally: Tally }>();

  constructor(
    readonly labelNames: readonly string[],
    private readonly maxChildren = 200,
  ) {}

  child(...values: string[]): Tally {
    const key = values.length === 1 ? values[0] : values.join('\u0000');
    const c = this.children.get(key);
    if (c) return c.tally;
    if (this.children.size < this.maxChildren) return this.add(key, values);
    const other = this.labelNames.map(() => 'other');
    const otherKey = other.join('\u0000');
    return this.children.get(otherKey)?.tally ?? this.add(otherKey, other);
  }

  private add(key: string, labels: string[]): Tally {
    const tally = new Tally();
    this.children.set(key, { labels, tally });
    return tally;
  }

  /** Forgets a label set (a node that was removed), so its series stops being exported. */
  remove(...values: string[]): void {
    this.children.delete(values.length === 1 ? values[0] : values.join('\u0000'));
  }

  entries(): Array<{ labels: Record<string, string>; value: number }> {
    const out: Array<{ labels: Record<string, string>; value: number }> = [];
    for (const { labels, tally } of this.children.values()) {
      const l: Record<string, string> = {};
      this.labelNames.forEach((name, i) => (l[name] = labels[i] ?? ''));
      out.push({ labels: l, value: tally.value });
    }
    return out;
  }

  total(): number {
    let n = 0;
    for (const c of this.children.values()) n += c.tally.value;
    return n;
  }
}
