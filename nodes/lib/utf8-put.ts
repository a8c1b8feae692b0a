/**
 * Writes a string's UTF-8 bytes into a Buffer the caller has made room in. The
 * strings written on hot paths (topics, paths, tag values, field names) are
 * short and mostly ASCII: those are copied byte by byte, cheaper than a call
 * into the runtime's UTF-8 encoder for each one; any other goes to Buffer#write.
 */

/** Strings up to this length are tried as ASCII first. */
const SHORT = 64;

/** Writes s at off (room for 3 bytes per UTF-16 unit is the caller's); returns the bytes written. */
export function putUtf8(s: string, buf: Buffer, off: number): number {
  const n = s.length;
  if (n <= SHORT) {
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      buf[off + i] = c;
    }
    if (i === n) return n;
  }
  return buf.write(s, off, 'utf8');
}
