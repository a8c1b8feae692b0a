/**
 * Readings as XML (application/xml, text/xml), read with saxes, a streaming
 * parser: no DTD is processed, no entity but the five predefined ones and
 * character references is expanded, and the shape below is checked element by
 * element, so nesting deeper than it allows fails at once, before anything
 * grows with the input.
 *
 * ```xml
 * <readings device="dev1">                          <!-- optional wrapper; its device and ts are defaults -->
 *   <reading device="dev1" ts="2026-01-01T00:00:00Z">
 *     <field name="temperature">22.5</field>        <!-- a number -->
 *     <field name="door" type="boolean">true</field>
 *     <field name="mode" type="string">eco</field>
 *     <humidity>41</humidity>                       <!-- shorthand: the element names the field -->
 *     <tag name="site">lab</tag>
 *   </reading>
 * </readings>
 * ```
 * A bare `<reading>` may be the root. Without `type`, a field's text is a number
 * when it is one (JSON number syntax), true/false a boolean, anything else a
 * string; `type="string"` keeps "007" as text; a number past the largest
 * double (`1e400`) is refused, as line protocol refuses it. `ts` (or
 * `timestamp`, `time`) is ISO 8601 or epoch s/ms; absent means the time of
 * receipt; given in more than one, they are handed on as they are, for the
 * readings check to hold them to one time. Namespace prefixes are ignored
 * (`<u:reading>` is a reading).
 */
import type { SaxesParser as SaxesParserType, SaxesTag } from 'saxes';
import { DecodeError, InvalidReadingError, isLimitError, StringTooLongError } from '../errors';
import { DEFAULT_LIMITS, tooManyFields, tooManyReadings, type Limits } from '../limits';
import type { FieldValue } from '../reading';
import { hasOwn, put } from '../reading-flatten';
import { byteOffsetOf, decodeUtf8 } from './text';

// Loaded with the first XML payload: a runtime whose devices send JSON does not hold it.
let Parser: typeof SaxesParserType | undefined;
function saxes(): typeof SaxesParserType {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return (Parser ??= (require('saxes') as typeof import('saxes')).SaxesParser);
}

/** A reading as read from XML, before normalizeReadings() checks it. */
export interface XmlReading extends XmlTimes {
  device?: string;
  fields: Record<string, FieldValue>;
  tags: Record<string, string>;
}

const NUMBER = /^-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?$/;
const TIME_ATTRS = ['ts', 'timestamp', 'time'] as const;

function localName(name: string): string {
  const i = name.indexOf(':');
  return i === -1 ? name : name.slice(i + 1);
}

/** The time attributes of an element, as written. */
type XmlTimes = { [K in (typeof TIME_ATTRS)[number]]?: string };

/** The time attributes `attrs` has, or undefined when it has none (once per message: the wrapper's). */
function timesOf(attrs: Record<string, string>): XmlTimes | undefined {
  let times: XmlTimes | undefined;
  for (const k of TIME_ATTRS) if (attrs[k] !== undefined) (times ??= {})[k] = attrs[k];
  return times;
}

/** What an element inside a reading stands for while its text is collected. */
interface Leaf {
  kind: 'field' | 'tag';
  name: string;
  type?: string;
  text: string;
}

export function decodeXml(buf: Uint8Array, limits: Limits = DEFAULT_LIMITS): XmlReading[] {
  const { text, bomBytes } = decodeUtf8(buf, 'xml', 'XML payload');
  if (text.trim() === '') throw new DecodeError('XML payload is empty', { format: 'xml', offset: 0 });
  const parser = new (saxes())({ position: true, xmlns: false });
  const readings: XmlReading[] = [];
  let rootSeen = false;
  let wrapper: { device?: string; times?: XmlTimes } | undefined;
  let reading: XmlReading | undefined;
  let leaf: Leaf | undefined;
  let depth = 0;
  // Fields and tags of the reading being read: the limits hold while the text is read, not after.
  let values = 0;

  // `got`: the sender's text the message quotes, where it stands in `message` (moved with the prefix here).
  const fail = (message: string, got?: { at: number; text: string; field?: string }): never => {
    const offset = byteOffsetOf(text, Math.min(parser.position, text.length), bomBytes);
    const prefix = `XML payload line ${parser.line}, column ${parser.column}: `;
    const quoted = got ? [{ ...got, at: prefix.length + got.at, kind: 'some text' }] : undefined;
    throw new DecodeError(prefix + message, { format: 'xml', line: parser.line, column: parser.column, offset, ...(quoted ? { quoted } : {}) });
  };
  /** `before`, then the sender's `value` quoted, then `after`, with where the value stands. */
  const failQuoting = (before: string, value: string, after: string, field?: string): never => {
    const quotedText = JSON.stringify(value.slice(0, 40));
    return fail(`${before}${quotedText}${after}`, { at: before.length, text: quotedText, ...(field === undefined ? {} : { field }) });
  };
  parser.on('error', (err) => fail(err.message.replace(/^\d+:\d+: /, '')));
  parser.on('doctype', () => fail('a DOCTYPE is not accepted: DTDs are not processed; remove it'));
  parser.on('opentag', (tag: SaxesTag) => {
    depth++;
    const name = localName(tag.name);
    // Without xmlns processing every attribute value is plain text.
    const attrs = tag.attributes as Record<string, string>;
    if (depth === 1) {
      if (rootSeen) fail('only one root element is allowed');
      rootSeen = true;
      if (name === 'readings') wrapper = { device: attrs.device, times: timesOf(attrs) };
      else if (name === 'reading') reading = startReading(attrs);
      else fail(`the root element must be <readings> or <reading>, not <${tag.name}>`);
      return;
    }
    if (!reading) {
      // Inside <readings>: only readings.
      if (name !== 'reading') fail(`<readings> holds <reading> elements, not <${tag.name}>`);
      reading = startReading(attrs);
      return;
    }
    if (leaf) fail(`<${leaf.kind === 'tag' ? 'tag' : leaf.name}> holds text only, not the element <${tag.name}>`);
    if (name === 'field' || name === 'tag') {
      const n = attrs.name;
      if (n === undefined || n === '') fail(`<${name}> needs a name attribute`);
      leaf = { kind: name, name: n, type: attrs.type, text: '' };
    } else {
      leaf = { kind: 'field', name, type: attrs.type, text: '' };
    }
  });
  const grow = (t: string) => {
    leaf!.text += t;
    if (leaf!.text.length > limits.maxStringLength) throw new StringTooLongError({ limit: limits.maxStringLength, format: 'xml', line: parser.line, path: `${leaf!.kind} "${leaf!.name.slice(0, 60)}"` });
  };
  parser.on('text', (t) => {
    if (leaf) grow(t);
    else if (t.trim() !== '') failQuoting('text ', t.trim(), ' is outside any field: put values in <field> elements');
  });
  parser.on('cdata', (t) => {
    if (leaf) grow(t);
    else if (t.trim() !== '') fail('CDATA is only allowed inside a field or tag');
  });
  parser.on('closetag', () => {
    depth--;
    if (leaf) {
      const done = leaf;
      leaf = undefined;
      if (++values > limits.maxFields) throw tooManyFields(limits, { format: 'xml', line: parser.line });
      const into: Record<string, FieldValue> = done.kind === 'tag' ? reading!.tags : reading!.fields;
      // As every other format: two values of one name reject the reading, never one silently lost.
      if (hasOwn.call(into, done.name)) {
        const path = `${wrapper ? `[${readings.length}].` : ''}${done.kind === 'tag' ? 'tags' : 'fields'}.${done.name}`;
        throw new InvalidReadingError(`${path} would be stored as ${done.kind} "${done.name}", which the reading already has: two values cannot have the same name (XML line ${parser.line})`, { path, format: 'xml', line: parser.line });
      }
      put(into, done.name, done.kind === 'tag' ? done.text : fieldValue(done));
      return;
    }
    if (reading && (depth === 1 || (depth === 0 && !wrapper))) {
      if (readings.length >= limits.maxReadings) throw tooManyReadings(limits, { format: 'xml', line: parser.line });
      readings.push(reading);
      reading = undefined;
    }
  });

  function startReading(attrs: Record<string, string>): XmlReading {
    values = 0;
    const r: XmlReading = { fields: {}, tags: {} };
    const device = attrs.device ?? wrapper?.device;
    if (device !== undefined) r.device = device;
    // The wrapper's time is a default: a reading with a time of its own takes none of it.
    let own = false;
    for (const k of TIME_ATTRS) {
      if (attrs[k] === undefined) continue;
      r[k] = attrs[k];
      own = true;
    }
    if (!own && wrapper?.times !== undefined) Object.assign(r, wrapper.times);
    return r;
  }

  function fieldValue(l: Leaf): FieldValue {
    const raw = l.text;
    const t = l.type;
    if (t === 'string') return raw;
    const trimmed = raw.trim();
    if (t === 'number') {
      if (!NUMBER.test(trimmed)) failQuoting(`field "${l.name}" is typed number but holds `, trimmed, '', l.name);
      return finite(l.name, trimmed);
    }
    if (t === 'boolean') {
      if (trimmed !== 'true' && trimmed !== 'false') failQuoting(`field "${l.name}" is typed boolean but holds `, trimmed, '; use true or false', l.name);
      return trimmed === 'true';
    }
    if (t !== undefined) fail(`field "${l.name}" has type "${t}"; use number, boolean or string`);
    if (NUMBER.test(trimmed)) return finite(l.name, trimmed);
    if (trimmed === 'true' || trimmed === 'false') return trimmed === 'true';
    return raw;
  }

  /** A number's text as a double; past the largest one it would be Infinity, which no store keeps. */
  function finite(name: string, raw: string): number {
    const n = Number(raw);
    if (!Number.isFinite(n)) failQuoting(`field "${name}" value `, raw, ' is too large for a 64-bit float', name);
    return n;
  }

  try {
    parser.write(text).close();
  } catch (err) {
    if (err instanceof DecodeError || err instanceof InvalidReadingError || isLimitError(err)) throw err;
    throw new DecodeError(`XML payload is invalid: ${err instanceof Error ? err.message : String(err)}`, { format: 'xml' }, { cause: err });
  }
  if (!rootSeen) throw new DecodeError('XML payload has no root element', { format: 'xml', offset: 0 });
  return readings;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c] as string);
}

/** Readings in the shape decodeXml() reads (always the long <field name=...> form). */
export function encodeXml(readings: ReadonlyArray<{ device: string; ts: number; fields: Record<string, FieldValue>; tags?: Record<string, string> }>): Buffer {
  const out = ['<?xml version="1.0" encoding="UTF-8"?>', '<readings>'];
  for (const r of readings) {
    out.push(`  <reading device="${escapeXml(r.device)}" ts="${new Date(r.ts).toISOString()}">`);
    for (const [k, v] of Object.entries(r.fields)) {
      out.push(`    <field name="${escapeXml(k)}" type="${typeof v}">${escapeXml(String(v))}</field>`);
    }
    for (const [k, v] of Object.entries(r.tags ?? {})) out.push(`    <tag name="${escapeXml(k)}">${escapeXml(v)}</tag>`);
    out.push('  </reading>');
  }
  out.push('</readings>', '');
  return Buffer.from(out.join('\n'), 'utf8');
}
