/**
 * Dead-letter reasons quote what the device sent ("must be number (got
 * "52.987654")", "field "owner" has value "Jane"…"), and a refused value is
 * often a sensitive field's: to a key that sees fields masked, the values a
 * reason quotes are told by their kind instead ("got a string"). Every quoted
 * value is, not only those of fields marked sensitive: a reason does not
 * always name the field (a SenML record's `v`, a codec's position), and the
 * kind is what a reader needs to fix the sender.
 *
 * Where a reason is made from a refused value, its error says where the value
 * stands in the message (`details.quoted`, errors/base.ts QuotedValue) and the
 * dead letter keeps that, so any wording is redacted. Letters written before
 * they kept it (and reasons of errors that do not say) fall back to the text:
 * each value after "got ".
 */
import type { QuotedValue } from '../errors';

/** Values per reason kept; a reason quotes one or two. */
const MAX_QUOTED = 8;

function isQuoted(v: unknown): v is QuotedValue {
  if (typeof v !== 'object' || v === null) return false;
  const q = v as Record<string, unknown>;
  return Number.isSafeInteger(q.at) && typeof q.text === 'string' && q.text !== '' && typeof q.kind === 'string' && (q.field === undefined || typeof q.field === 'string');
}

/**
 * The quoted values (an error's `details.quoted`, or a letter's) that stand in `reason` where `at` says. A value
 * cut off at the reason's end (a cut reason) is kept as the part that is there. Anything else is left out: the
 * same text elsewhere in the reason may be another (a field's name), and wrappers that prefix a message move
 * `at` with it (errors/base.ts shiftQuoted), so a value not where it is said to be is not one this reason quotes.
 */
export function quotedIn(reason: string, quoted: unknown): QuotedValue[] {
  if (!Array.isArray(quoted)) return [];
  const out: QuotedValue[] = [];
  for (const q of quoted.slice(0, MAX_QUOTED)) {
    if (!isQuoted(q)) continue;
    const { at, text, kind } = q;
    const field = q.field === undefined ? {} : { field: q.field };
    if (at >= 0 && reason.startsWith(text, at)) out.push({ at, text, kind, ...field });
    else if (at >= 0 && at < reason.length && text.startsWith(reason.slice(at))) out.push({ at, text: reason.slice(at), kind, ...field });
  }
  return out;
}

/** The reason with each value it quotes replaced by its kind: the quoted values it stands with, then "got " values. */
export function redactReason(reason: string, quoted?: unknown): string {
  // From the end, so the places of those before stay true; overlapping ones are replaced once.
  const places = quotedIn(reason, quoted).sort((a, b) => b.at - a.at);
  let out = reason;
  let end = reason.length;
  for (const q of places) {
    if (q.at + q.text.length > end) continue;
    out = `${out.slice(0, q.at)}${q.kind}${out.slice(q.at + q.text.length)}`;
    end = q.at;
  }
  return redactGot(out);
}

const KIND_OF_OPENER: Record<string, string> = { '"': 'a string', '[': 'an array', '{': 'an object' };

/** Where the JSON text (as previewJson writes it, maybe cut with "…") starting at `start` ends. */
function endOfQuoted(text: string, start: number): number {
  let depth = 0;
  let inString = false;
  for (let i = start; i < text.length; i++) {
    const c = text[i];
    if (c === '…') return i + 1;
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') {
        inString = false;
        if (depth === 0) return i + 1;
      }
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '[' || c === '{') depth++;
    else if (c === ']' || c === '}') {
      depth--;
      if (depth <= 0) return i + 1;
    }
  }
  return text.length;
}

const GOT = /\bgot /g;
const SCALAR = /^(?:-?(?:\d[\d.eE+-]*|Infinity)|NaN|true|false)(?![\w.])/;

/** The reason with each value quoted after "got " replaced by its kind. */
function redactGot(reason: string): string {
  let out = '';
  let from = 0;
  GOT.lastIndex = 0;
  for (let m = GOT.exec(reason); m; m = GOT.exec(reason)) {
    const at = m.index + m[0].length;
    const opener = reason[at];
    let end = at;
    let kind: string | undefined;
    if (opener in KIND_OF_OPENER) {
      kind = KIND_OF_OPENER[opener];
      end = endOfQuoted(reason, at);
    } else {
      const scalar = SCALAR.exec(reason.slice(at, at + 400));
      if (scalar) {
        kind = scalar[0] === 'true' || scalar[0] === 'false' ? 'true or false' : 'a number';
        end = at + scalar[0].length;
      }
    }
    if (kind === undefined) continue;
    out += `${reason.slice(from, at)}${kind}`;
    from = end;
    GOT.lastIndex = end;
  }
  return out + reason.slice(from);
}
