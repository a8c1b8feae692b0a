import type { Decoder, Encoder } from '@msgpack/msgpack';
import { DecodeError, InvalidReadingError, TextEncodingError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { RESERVED_NAME } from '../reading-flatten';
import { findMsgpackProblem } from './msgpack-scan';

// Loaded with the first MessagePack payload: a runtime whose devices send JSON does not hold it.
let codec: { decoder: Decoder; encoder: Encoder } | undefined;
function msgpack(): { decoder: Decoder; encoder: Encoder } {
  if (!codec) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const lib = require('@msgpack/msgpack') as typeof import('@msgpack/msgpack');
    // ignoreUndefined drops undefined properties, as JSON does, instead of writing nil.
    codec = { decoder: new lib.Decoder(), encoder: new lib.Encoder({ ignoreUndefined: true }) };
  }
  return codec;
}

/** The bytes are walked first (iteratively), so limits hold before the decoder builds anything. */
export function decodeMsgpack(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): unknown {
  const problem = findMsgpackProblem(buf, limits);
  if (problem) throw problem.error ?? new (problem.text ? TextEncodingError : DecodeError)(problem.message, { format: 'msgpack', offset: problem.offset });
  try {
    return msgpack().decoder.decode(buf);
  } catch (err) {
    // Well-formed but not representable, e.g. a map whose key is itself a map.
    const reason = err instanceof Error ? err.message : String(err);
    // The decoder stops at a key "__proto__" (it builds plain objects): refused in the words every format uses.
    // Told from the keys themselves, not from the decoder's wording, which a new release may change.
    if (hasReservedKey(buf)) throw new InvalidReadingError(`a map key: "${RESERVED_NAME}" cannot name a field or tag (JavaScript reserves it): rename it`, { format: 'msgpack' });
    throw new DecodeError(`MessagePack data is well-formed but cannot be decoded: ${reason}`, { format: 'msgpack' }, { cause: err });
  }
}

const RESERVED_BYTES = Buffer.from(RESERVED_NAME);

/**
 * Whether a map key of the (well-formed) data reads as RESERVED_NAME. The scan holds every string to strict
 * UTF-8 (no overlong forms), so only the name's own ASCII bytes read so.
 */
function hasReservedKey(buf: Uint8Array): boolean {
  const bytes = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  let found = false;
  findMsgpackProblem(bytes, undefined, (_item, start, end) => {
    if (!found && end - start === RESERVED_BYTES.length && bytes.subarray(start, end).equals(RESERVED_BYTES)) found = true;
  });
  return found;
}

export function encodeMsgpack(value: unknown): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = msgpack().encoder.encode(value);
  } catch (err) {
    throw new InvalidReadingError(`value cannot be written as MessagePack: ${err instanceof Error ? err.message : String(err)}`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
