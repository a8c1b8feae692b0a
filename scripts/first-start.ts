/**
 * The secrets a first start makes (the query API key, the editor password) are kept and printed only once
 * the runtime serves. A start refused before that (a setting that cannot work, the HTTP port taken) would
 * otherwise print them above its error, where they are easily passed over, and keep them: the next start,
 * which works, would print nothing, and a password shown only once would be lost. Refused, it keeps neither
 * and the next start makes and prints its own.
 *
 * `npm start` (scripts/start.ts) defers them before it loads the settings and calls firstStartServed() when
 * the HTTP server listens; settings loaded by a plain `node-red --settings` keep and print them at once.
 */
export interface FirstStartSecrets {
  /** Writes them to the data folder. */
  keep(): void;
  /** Tells the user, once. */
  print(): void;
}

let deferred = false;
let pending: FirstStartSecrets | undefined;

export function deferFirstStart(): void {
  deferred = true;
}

export function firstStartSecrets(s: FirstStartSecrets): void {
  if (deferred) {
    pending = s;
    return;
  }
  s.keep();
  s.print();
}

/** The runtime serves: what a first start made is kept, then printed (nothing is printed that was not kept). */
export function firstStartServed(): void {
  const s = pending;
  pending = undefined;
  if (!s) return;
  s.keep();
  s.print();
}
