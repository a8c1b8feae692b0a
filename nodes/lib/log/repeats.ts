/**
 * Which of a stream of repeated warnings to log. MQTT.js retries a broker every
 * reconnect period and reports each failed attempt, from every client a node
 * holds; logged each time, a broker that is down for an hour floods the log.
 * The same text is logged again only after a quiet period, saying how many
 * times it came meanwhile; another text is logged at once.
 */
export class RepeatedWarnings {
  private last: { text: string; at: number; held: number } | undefined;

  constructor(private readonly quietMs: number) {}

  /** The warning to log now and how many of the same were held back since it was last logged; undefined: hold this one back. */
  pass(text: string, now: number): { text: string; held: number } | undefined {
    const last = this.last;
    if (last?.text === text && now - last.at < this.quietMs) {
      last.held++;
      return undefined;
    }
    this.last = { text, at: now, held: 0 };
    return { text, held: last?.text === text ? last.held : 0 };
  }

  /** Forgets what was logged (the trouble is over, so its next return is logged at once); whether anything had been. */
  reset(): boolean {
    const had = this.last !== undefined;
    this.last = undefined;
    return had;
  }
}
