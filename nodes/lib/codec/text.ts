/** UTF-8 decoding for the text formats, with errors that say which byte is wrong. */
import { isAscii, isUtf8 } from 'node:buffer';
import { DecodeError } from '../errors';

// ignoreBOM keeps a leading BOM in the text so char indexes map back to bytes; we strip it ourselves.
const strictUtf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export interface DecodedText {
  text: string;
  /** Bytes of a leading UTF-8 BOM that were dropped (0 or 3); add to offsets computed from `text`. */
  bomBytes: number;
}

// Past this size an ASCII check plus a one-byte-per-character copy beats the UTF-8 decoder.
const ASCII_CHECK_FROM = 512;

/** Decodes strictly: invalid UTF-8 is a DecodeError at the first bad byte, never U+FFFD. */
export function decodeUtf8(buf: Uint8Array, format: string, label: string): DecodedText {
  // ASCII is UTF-8 as it is, and holds no BOM.
  if (buf.length >= ASCII_CHECK_FROM && isAscii(buf)) return { text: Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength).toString('latin1'), bomBytes: 0 };
  let text: string;
  try {
    text = strictUtf8.decode(buf);
  } catch {
    const bad = findInvalidUtf8(buf) ?? { offset: 0, reason: 'is not valid UTF-8' };
    const details: { format: string; offset: number; line?: number } = { format, offset: bad.offset };
    let what = `0x${hex(buf[bad.offset])}`;
    if (format === 'lineprotocol') {
      details.line = lineOfByte(buf, bad.offset);
      what += `, line ${details.line}`;
    }
    throw new DecodeError(`${label} is not valid UTF-8 text: byte ${bad.offset} (${what}) ${bad.reason}`, details);
  }
  if (text.charCodeAt(0) === 0xfeff) return { text: text.slice(1), bomBytes: 3 };
  return { text, bomBytes: 0 };
}

/** Byte offset of the character at `index` of a string that was decoded from UTF-8. */
export function byteOffsetOf(text: string, index: number, bomBytes = 0): number {
  return bomBytes + Buffer.byteLength(text.slice(0, index), 'utf8');
}

/** 1-based line and column (in characters) of `index` in `text`. */
export function lineColumnOf(text: string, index: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i !== -1 && i < index; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  return { line, column: index - lineStart + 1 };
}

function hex(b: number | undefined): string {
  return (b ?? 0).toString(16).toUpperCase().padStart(2, '0');
}

function lineOfByte(buf: Uint8Array, offset: number): number {
  let line = 1;
  for (let i = 0; i < offset; i++) if (buf[i] === 0x0a) line++;
  return line;
}

function utf8SequenceLength(lead: number): number {
  if (lead >= 0xc2 && lead <= 0xdf) return 2;
  if (lead >= 0xe0 && lead <= 0xef) return 3;
  if (lead >= 0xf0 && lead <= 0xf4) return 4;
  return 1;
}

/**
 * The first byte that breaks UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF), if any, in
 * `b[start, end)`; the offset counts from the start of `b`. `what` is what `end` is the end of, for the reason.
 */
export function findInvalidUtf8(b: Uint8Array, start = 0, end = b.length, what = 'payload'): { offset: number; reason: string } | undefined {
  let i = start;
  while (i < end) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const len = utf8SequenceLength(c);
    if (len === 1) return { offset: i, reason: c >= 0x80 && c <= 0xbf ? 'is a continuation byte with no character before it' : 'can never appear in UTF-8' };
    // The second byte's range is narrower after E0/ED/F0/F4; that is what rules out overlongs and surrogates.
    for (let k = 1; k < len; k++) {
      if (i + k >= end) return { offset: i, reason: `starts a ${len}-byte character that the end of the ${what} cuts off` };
      const lo = k === 1 && c === 0xe0 ? 0xa0 : k === 1 && c === 0xf0 ? 0x90 : 0x80;
      const hi = k === 1 && c === 0xed ? 0x9f : k === 1 && c === 0xf4 ? 0x8f : 0xbf;
      if (b[i + k] < lo || b[i + k] > hi) return { offset: i, reason: `starts a ${len}-byte character whose next bytes do not continue it` };
    }
    i += len;
  }
  return undefined;
}

// Below this many bytes the walk (about a nanosecond a byte for ASCII) beats the native check, whose call
// and view cost about 60 ns whatever the length: field names and device ids stay with the walk.
const NATIVE_CHECK_FROM = 64;

/**
 * findInvalidUtf8 for a text string inside a binary message (CBOR, MessagePack), checked on every message:
 * for a longer string Node's native check answers, and the walk runs only to say where a bad one goes wrong.
 */
export function findInvalidUtf8Within(b: Uint8Array, start: number, end: number, what: string): { offset: number; reason: string } | undefined {
  if (end - start >= NATIVE_CHECK_FROM && isUtf8(b.subarray(start, end))) return undefined;
  return findInvalidUtf8(b, start, end, what);
}
