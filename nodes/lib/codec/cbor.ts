/**
 * CBOR via cbor-x. cbor-x loads the native cbor-extract only if it is present
 * and falls back to pure JS otherwise, so nothing here depends on it.
 */
import type { Decoder as DecoderType, Encoder as EncoderType } from 'cbor-x' with { 'resolution-mode': 'import' };
import { DecodeError, InvalidReadingError } from '../errors';
import { DEFAULT_LIMITS, type Limits } from '../limits';
import { findCborProblem } from './cbor-scan';

// cbor-x's types are ESM-only (the index.d.cts its exports name is not shipped), so a
// CommonJS import does not type-check; the runtime require of dist/node.cjs is fine.
const { Decoder, Encoder } = require('cbor-x') as { Decoder: typeof DecoderType; Encoder: typeof EncoderType };

// useRecords: false keeps the output plain RFC 8949 maps that other CBOR
// libraries (and devices) read; records are a cbor-x-only extension.
const decoder = new Decoder({ useRecords: false, mapsAsObjects: true });
const encoder = new Encoder({ useRecords: false, mapsAsObjects: true });

/**
 * cbor-x recurses into nested items, so the bytes are walked first (iteratively):
 * data that is malformed, nested too deep, too wide or holds too long strings never
 * reaches it.
 */
export function decodeCbor(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): unknown {
  const problem = findCborProblem(buf, limits);
  if (problem) throw problem.error ?? new DecodeError(problem.message, { format: 'cbor', offset: problem.offset });
  try {
    return decoder.decode(buf);
  } catch (err) {
    // Well-formed but not representable, e.g. a map with an array as a key.
    const reason = err instanceof Error ? err.message : String(err);
    throw new DecodeError(`CBOR data is well-formed but cannot be decoded: ${reason}`, { format: 'cbor' }, { cause: err });
  }
}

export function encodeCbor(value: unknown): Buffer {
  try {
    // cbor-x hands out slices of one shared 8 KB buffer; a copy keeps a kept message from pinning it.
    return Buffer.from(encoder.encode(value));
  } catch (err) {
    throw new InvalidReadingError(`value cannot be written as CBOR: ${err instanceof Error ? err.message : String(err)}`);
  }
}
