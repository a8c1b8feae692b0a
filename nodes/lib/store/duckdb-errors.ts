/**
 * What a DuckDB error means to the store's callers: the database cannot be
 * used now (StoreUnavailableError: the writer spools and retries), DuckDB
 * invalidated it (the store reopens it), or the data was refused
 * (StoreFailedError: the writer isolates the readings).
 */
import { StoreFailedError, StoreUnavailableError, UpperstackError } from '../errors';

// DuckDB reports files it cannot open, lock, read or write as IO errors; a
// fatal error (e.g. a failed WAL write) invalidates the database until reopened.
// A missing table (someone dropped it) is the database's state, not the data's.
// Everything else a write statement raises (Out of Memory for one too-large
// batch, conversion, invalid input such as a lone surrogate, constraints) is
// the data's: StoreFailedError, and the writer isolates the readings.
const UNAVAILABLE = /IO Error|Could not set lock|Permission denied|No space left|read-only|Cannot open|not a valid DuckDB database|Catalog Error|Connection Error|Interrupt/i;
const INVALIDATED = /FATAL Error|invalidated/i;

export function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/**
 * The store's error for `err` raised by `op` on the database at `path`;
 * `invalidated` runs first when DuckDB invalidated the database.
 */
export function translateError(path: string, op: string, err: unknown, invalidated: () => void): Error {
  if (err instanceof UpperstackError) return err;
  const text = message(err);
  if (INVALIDATED.test(text)) {
    invalidated();
    return new StoreUnavailableError(`DuckDB database "${path}" failed and will be reopened (${op}): ${text}`, { cause: err });
  }
  if (UNAVAILABLE.test(text)) {
    return new StoreUnavailableError(`DuckDB database "${path}" cannot be used (${op}): ${text}`, { cause: err });
  }
  return new StoreFailedError(`DuckDB ${op} failed: ${text}`, { cause: err });
}
