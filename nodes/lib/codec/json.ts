import { DecodeError, InvalidReadingError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { locateJsonError } from './json-locate';
import { scanJsonLimits } from './json-scan';
import { byteOffsetOf, decodeUtf8, lineColumnOf } from './text';

/** Checks depth, widths and string lengths on the bytes, then parses (V8's JSON.parse does not recurse). */
export function decodeJson(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): unknown {
  scanJsonLimits(buf, limits);
  const { text, bomBytes } = decodeUtf8(buf, 'json', 'JSON payload');
  if (text.trim() === '') throw new DecodeError('JSON payload is empty', { format: 'json', offset: 0 });
  try {
    return JSON.parse(text);
  } catch (err) {
    throw syntaxError(text, bomBytes, err);
  }
}

function syntaxError(text: string, bomBytes: number, cause: unknown): DecodeError {
  const byteAt = (index: number) => `byte ${byteOffsetOf(text, index, bomBytes)}`;
  const problem = locateJsonError(text, byteAt);
  if (!problem) {
    // Our scanner accepted what V8 rejected; V8's own words are the best we have.
    return new DecodeError(`JSON payload is invalid: ${cause instanceof Error ? cause.message : String(cause)}`, { format: 'json' }, { cause });
  }
  const offset = byteOffsetOf(text, problem.index, bomBytes);
  const { line, column } = lineColumnOf(text, problem.index);
  const head = problem.endsEarly ? `JSON payload ends early at byte ${offset}` : `JSON payload is invalid at byte ${offset}`;
  return new DecodeError(`${head} (line ${line}, column ${column}): ${problem.reason}`, { format: 'json', offset, line, column }, { cause });
}

export function encodeJson(value: unknown): Buffer {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (err) {
    // BigInt values and circular references are the usual causes.
    throw new InvalidReadingError(`value cannot be written as JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  if (text === undefined) throw new InvalidReadingError(`a ${typeof value} cannot be written as JSON`);
  return Buffer.from(text, 'utf8');
}
