/**
 * Dead-letter reasons quote what the device sent ("must be number (got
 * "52.987654")"), and a value a schema refused is often a sensitive field's:
 * to a key that sees fields masked, the quoted values of a reason are told by
 * their kind instead ("got a string"). Every quoted value is redacted, not
 * only those of fields marked sensitive: a reason does not always name the
 * field (a SenML record's `v`, a codec's position), and the kind is what a
 * reader needs to fix the sender.
 */

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
export function redactReason(reason: string): string {
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
