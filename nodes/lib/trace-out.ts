/**
 * Where a diagnostic trace (UPPERSTACK_DUCKDB_TRACE, UPPERSTACK_INTAKE_TRACE)
 * goes: `1` (any value that is not an absolute path) prints each line to
 * stderr, an absolute path appends it to that file, so several traces can
 * share one timeline. Unset: no trace at all.
 */
import { appendFileSync } from 'node:fs';
import { isAbsolute } from 'node:path';

export function traceOut(to: string | undefined): ((line: string) => void) | undefined {
  if (!to) return undefined;
  if (!isAbsolute(to)) return (line) => process.stderr.write(line);
  return (line) => {
    try {
      appendFileSync(to, line);
    } catch {
      // A trace that cannot be written is no reason to hold up what it traces.
    }
  };
}
