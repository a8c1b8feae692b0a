/** JSON Pointers (RFC 6901) as ajv's errors name places, for messages that quote what is there. */

/** One key as a pointer segment (`~` → `~0`, `/` → `~1`). */
export function escapePointer(key: string): string {
  return key.replace(/~/g, '~0').replace(/\//g, '~1');
}

/** What `pointer` ("" the whole, "/a/0/b") points at in `data`; undefined where nothing is. */
export function valueAt(data: unknown, pointer: string): unknown {
  let v = data;
  for (const part of pointer.split('/').slice(1)) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')];
  }
  return v;
}
