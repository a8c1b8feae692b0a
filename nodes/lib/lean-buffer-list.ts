/**
 * Reads from a `bl` BufferList without a Buffer per read.
 *
 * mqtt-packet's parser (MQTT.js's and aedes') keeps the bytes a socket read in
 * a bl BufferList and reads every packet's header byte, remaining length,
 * topic length, topic and message id through it. bl answers each such read by
 * slicing a new Buffer for the bytes (and an [index, offset] array to find
 * them) and reading that: five to seven Buffer objects per received PUBLISH,
 * about a kilobyte of garbage per message, a fifth of all the runtime
 * allocated per single-reading MQTT message.
 *
 * installLeanBufferList() gives the BufferList prototypes of the bl copies
 * those parsers load a readUInt8, readUInt16BE, readUInt32BE and toString that
 * read straight from the buffer holding the bytes when they lie within one
 * buffer, which is almost always (a read across two socket chunks, or out of
 * range, goes to bl's own method, so every answer and every error is bl's).
 * Idempotent; `npm start` and the upperstack-runtime plugin call it.
 */
import { createRequire } from 'node:module';

interface BufferListLike {
  _bufs: Buffer[];
  length: number;
}

type Read = (this: BufferListLike, offset?: number) => number;
type ToString = (this: BufferListLike, encoding?: BufferEncoding, start?: number, end?: number) => string;

interface BufferListProto {
  readUInt8: Read;
  readUInt16BE: Read;
  readUInt32BE: Read;
  toString: ToString;
  [LEAN]?: true;
}

const LEAN = Symbol.for('upperstack.leanBufferList');

// Where the last lookup found its bytes: one buffer of the list and the offset in it (no array per lookup).
let foundBuf: Buffer | undefined;
let foundAt = 0;

/** Finds the buffer holding bytes [offset, offset + size) of the list; false when they span two or are out of range. */
function within(list: BufferListLike, offset: number, size: number): boolean {
  if (!(offset >= 0) || offset + size > list.length) return false;
  const bufs = list._bufs;
  let at = offset;
  for (let i = 0; i < bufs.length; i++) {
    const b = bufs[i];
    if (at < b.length) {
      if (at + size > b.length) return false;
      foundBuf = b;
      foundAt = at;
      return true;
    }
    at -= b.length;
  }
  return false;
}

function leanRead(original: Read, size: number, read: (b: Buffer, at: number) => number): Read {
  return function (this: BufferListLike, offset = 0): number {
    if (typeof offset === 'number' && within(this, offset, size)) {
      const b = foundBuf as Buffer;
      foundBuf = undefined;
      return read(b, foundAt);
    }
    return original.call(this, offset);
  };
}

function leanToString(original: ToString): ToString {
  return function (this: BufferListLike, encoding?: BufferEncoding, start?: number, end?: number): string {
    if (typeof start === 'number' && typeof end === 'number' && end >= start && within(this, start, end - start)) {
      const b = foundBuf as Buffer;
      foundBuf = undefined;
      return b.toString(encoding, foundAt, foundAt + (end - start));
    }
    return original.call(this, encoding, start, end);
  };
}

/** Makes one BufferList prototype read without slicing; false if it is not bl's shape. */
export function leanBufferList(proto: BufferListProto): boolean {
  if (proto[LEAN]) return true;
  if (typeof proto.readUInt8 !== 'function' || typeof proto.readUInt16BE !== 'function' || typeof proto.readUInt32BE !== 'function' || typeof proto.toString !== 'function') return false;
  proto.readUInt8 = leanRead(proto.readUInt8, 1, (b, at) => b[at]);
  proto.readUInt16BE = leanRead(proto.readUInt16BE, 2, (b, at) => (b[at] << 8) | b[at + 1]);
  proto.readUInt32BE = leanRead(proto.readUInt32BE, 4, (b, at) => b.readUInt32BE(at));
  proto.toString = leanToString(proto.toString);
  Object.defineProperty(proto, LEAN, { value: true });
  return true;
}

/** The BufferList (and BufferListStream) prototypes of the bl copies mqtt-packet loads for MQTT.js and for aedes. */
function parserBufferLists(): Set<BufferListProto> {
  const found = new Set<BufferListProto>();
  for (const lib of ['mqtt', 'aedes']) {
    try {
      const packet = createRequire(createRequire(require.resolve(lib)).resolve('mqtt-packet'));
      // The parser's list is a BufferListStream, which has copies of BufferList's methods of its own.
      const bl = packet('bl') as { prototype?: BufferListProto; BufferList?: { prototype: BufferListProto } };
      if (bl.prototype) found.add(bl.prototype);
      if (bl.BufferList) found.add(bl.BufferList.prototype);
    } catch {
      // that library (or its parser) is not installed: nothing of it to make lean
    }
  }
  return found;
}

/** Installs the lean reads on every bl copy the MQTT parsers use; false when none was found. */
export function installLeanBufferList(): boolean {
  const found = parserBufferLists();
  let all = found.size > 0;
  for (const proto of found) all = leanBufferList(proto) && all;
  return all;
}
