import { Decoder, Encoder } from '@msgpack/msgpack';
import { DecodeError, InvalidReadingError } from '../errors';
import { findMsgpackProblem } from './msgpack-scan';

const decoder = new Decoder();
// ignoreUndefined drops undefined properties, as JSON does, instead of writing nil.
const encoder = new Encoder({ ignoreUndefined: true });

export function decodeMsgpack(buf: Uint8Array): unknown {
  try {
    return decoder.decode(buf);
  } catch (err) {
    const problem = findMsgpackProblem(buf);
    if (problem) throw new DecodeError(problem.message, { format: 'msgpack', offset: problem.offset }, { cause: err });
    // Well-formed but not representable, e.g. a map whose key is itself a map.
    const reason = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`MessagePack data is well-formed but cannot be decoded: ${reason}`, { format: 'msgpack' }, { cause: err });
  }
}

export function encodeMsgpack(value: unknown): Buffer {
  let bytes: Uint8Array;
  try {
    bytes = encoder.encode(value);
  } catch (err) {
    throw new InvalidReadingError(`value cannot be written as MessagePack: ${err instanceof Error ? err.message : String(err)}`);
  }
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
