/**
 * A deep copy of a message payload made of readings, for Node-RED's fan-out.
 *
 * When a node's output is wired to several nodes, Node-RED gives every wire
 * after the first its own deep copy of the message (lodash cloneDeep), so one
 * branch cannot change what another sees. For a batch of readings that generic
 * copy is a large part of the per-message cost after the store. Readings are
 * flat: a plain object whose values are primitives or plain objects of
 * primitives (fields, tags); this copies exactly that shape, two levels and no
 * recursion, and answers `undefined` for anything else (a Buffer, a Date, a
 * deeper object, a class instance), which the caller copies the generic way.
 */

const OBJECT_PROTO = Object.prototype;

function isPlain(v: object): boolean {
  const p = Object.getPrototypeOf(v) as unknown;
  return p === OBJECT_PROTO || p === null;
}

/** An empty object with the same prototype (plain or null, as a generic deep copy keeps it). */
function emptyLike(v: object): Record<string, unknown> {
  return Object.getPrototypeOf(v) === null ? (Object.create(null) as Record<string, unknown>) : {};
}

function primitive(v: unknown): boolean {
  return v === null || (typeof v !== 'object' && typeof v !== 'function');
}

/** A copy of a plain object of primitives, or undefined. */
function copyFlat(o: object): Record<string, unknown> | undefined {
  if (Array.isArray(o) || !isPlain(o)) return undefined;
  const src = o as Record<string, unknown>;
  const out = emptyLike(o);
  for (const k in src) {
    if (!Object.prototype.hasOwnProperty.call(src, k)) continue;
    // An own "__proto__" key (JSON.parse makes them) cannot be copied by assignment.
    if (k === '__proto__') return undefined;
    const v = src[k];
    if (!primitive(v)) return undefined;
    out[k] = v;
  }
  return out;
}

function copyReading(r: unknown): Record<string, unknown> | undefined {
  if (r === null || typeof r !== 'object' || Array.isArray(r) || !isPlain(r)) return undefined;
  const src = r as Record<string, unknown>;
  const out = emptyLike(r);
  for (const k in src) {
    if (!Object.prototype.hasOwnProperty.call(src, k)) continue;
    if (k === '__proto__') return undefined;
    const v = src[k];
    if (primitive(v)) out[k] = v;
    else if (typeof v === 'object') {
      const c = copyFlat(v as object);
      if (c === undefined) return undefined;
      out[k] = c;
    } else return undefined;
  }
  return out;
}

/**
 * A deep copy of a Reading or an array of Readings (anything of the shape
 * above), sharing no object with the original; undefined when the payload has
 * another shape.
 */
export function cloneReadingsPayload(payload: unknown): unknown {
  if (!Array.isArray(payload)) return copyReading(payload);
  const out: unknown[] = new Array(payload.length);
  for (let i = 0; i < payload.length; i++) {
    const c = copyReading(payload[i]);
    if (c === undefined) return undefined;
    out[i] = c;
  }
  return out;
}

function flatShape(o: object): boolean {
  if (Array.isArray(o) || !isPlain(o)) return false;
  const src = o as Record<string, unknown>;
  for (const k in src) {
    if (!Object.prototype.hasOwnProperty.call(src, k)) continue;
    if (k === '__proto__' || !primitive(src[k])) return false;
  }
  return true;
}

function readingShape(r: unknown): boolean {
  if (r === null || typeof r !== 'object' || Array.isArray(r) || !isPlain(r)) return false;
  const src = r as Record<string, unknown>;
  for (const k in src) {
    if (!Object.prototype.hasOwnProperty.call(src, k)) continue;
    if (k === '__proto__') return false;
    const v = src[k];
    if (primitive(v)) continue;
    if (typeof v !== 'object' || !flatShape(v as object)) return false;
  }
  return true;
}

/** Whether cloneReadingsPayload would copy this payload (without copying it). */
export function isReadingsPayload(payload: unknown): boolean {
  if (!Array.isArray(payload)) return readingShape(payload);
  for (let i = 0; i < payload.length; i++) if (!readingShape(payload[i])) return false;
  return true;
}
