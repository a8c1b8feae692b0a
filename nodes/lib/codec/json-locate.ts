/**
 * Finds where JSON text goes wrong. V8's JSON.parse messages give a position
 * for some errors only ("Unexpected token '}', ... is not valid JSON" has none),
 * so after JSON.parse fails we scan the text once more to name the exact spot.
 * Iterative, so deeply nested input cannot overflow the stack.
 */

export interface JsonProblem {
  /** Character index into the text. */
  index: number;
  reason: string;
  /** True when the text stops before the value is complete. */
  endsEarly: boolean;
}

type Want = 'value' | 'valueOrClose' | 'key' | 'keyOrClose' | 'colon' | 'commaOrClose' | 'end';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);

function describe(ch: string): string {
  const code = ch.charCodeAt(0);
  return code < 0x20 ? `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}` : `'${ch}'`;
}

/** `where` names a position in messages; the caller knows how to turn an index into bytes. */
export function locateJsonError(text: string, where: (index: number) => string = (i) => `character ${i}`): JsonProblem | undefined {
  const n = text.length;
  const open: Array<{ ch: '{' | '['; at: number }> = [];
  let want: Want = 'value';
  let i = 0;

  const afterValue = (): Want => (open.length ? 'commaOrClose' : 'end');
  const early = (what: string): JsonProblem => {
    const top = open[open.length - 1];
    const inside = top ? `; the ${top.ch === '{' ? 'object' : 'array'} opened at ${where(top.at)} is not closed` : '';
    return { index: n, reason: `the text ends where ${what} was expected${inside}`, endsEarly: true };
  };
  const bad = (reason: string): JsonProblem => ({ index: i, reason, endsEarly: false });

  // Returns a problem, or undefined after moving i past the closing quote.
  const scanString = (): JsonProblem | undefined => {
    const start = i;
    for (i++; i < n; i++) {
      const ch = text[i];
      if (ch === '"') {
        i++;
        return undefined;
      }
      if (ch < ' ') return bad(`${describe(ch)} inside a string; write it as an escape such as \\n`);
      if (ch === '\\') {
        const next = text[i + 1];
        if (next === undefined) break;
        if (next === 'u') {
          if (!/^[0-9a-fA-F]{4}$/.test(text.slice(i + 2, i + 6))) return bad('\\u must be followed by 4 hex digits');
          i += 5;
        } else if (ESCAPES.has(next)) i++;
        else return bad(`invalid escape \\${next} in a string`);
      }
    }
    return { index: n, reason: `the string starting at ${where(start)} has no closing quote`, endsEarly: true };
  };

  for (;;) {
    while (i < n && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= n) {
      if (want === 'end') return undefined;
      if (want === 'colon') return early("':'");
      if (want === 'commaOrClose') return early(`',' or '${open[open.length - 1].ch === '{' ? '}' : ']'}'`);
      return early(want.startsWith('key') ? 'a property name' : 'a value');
    }
    const ch = text[i];
    switch (want) {
      case 'end':
        return bad(`unexpected ${describe(ch)} after the end of the JSON value`);
      case 'colon':
        if (ch !== ':') return bad(`expected ':' after a property name, found ${describe(ch)}`);
        i++;
        want = 'value';
        continue;
      case 'commaOrClose': {
        const top = open[open.length - 1];
        const close = top.ch === '{' ? '}' : ']';
        if (ch === ',') {
          i++;
          want = top.ch === '{' ? 'key' : 'value';
        } else if (ch === close) {
          i++;
          open.pop();
          want = afterValue();
        } else {
          return bad(`expected ',' or '${close}' after ${top.ch === '{' ? 'a property value' : 'an array element'}, found ${describe(ch)}`);
        }
        continue;
      }
      case 'key':
      case 'keyOrClose': {
        if (ch === '}' && want === 'keyOrClose') {
          i++;
          open.pop();
          want = afterValue();
          continue;
        }
        if (ch !== '"') {
          return bad(ch === '}' ? "a ',' before '}' leaves a trailing comma, which JSON does not allow" : `expected a property name in double quotes, found ${describe(ch)}`);
        }
        const problem = scanString();
        if (problem) return problem;
        want = 'colon';
        continue;
      }
      case 'value':
      case 'valueOrClose': {
        if (ch === ']' && want === 'valueOrClose') {
          i++;
          open.pop();
          want = afterValue();
          continue;
        }
        if (ch === '{' || ch === '[') {
          open.push({ ch, at: i });
          i++;
          want = ch === '{' ? 'keyOrClose' : 'valueOrClose';
          continue;
        }
        if (ch === '"') {
          const problem = scanString();
          if (problem) return problem;
        } else if (ch === '-' || (ch >= '0' && ch <= '9')) {
          NUMBER.lastIndex = i;
          if (!NUMBER.test(text)) return bad('malformed number');
          i = NUMBER.lastIndex;
        } else {
          const literal = ['true', 'false', 'null'].find((w) => text.startsWith(w, i));
          if (!literal) {
            return bad(ch === ']' && open.length ? "a ',' before ']' leaves a trailing comma, which JSON does not allow" : `expected a value, found ${describe(ch)}`);
          }
          i += literal.length;
        }
        want = afterValue();
        continue;
      }
    }
  }
}
