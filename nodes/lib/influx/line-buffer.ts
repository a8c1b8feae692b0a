/**
 * The bytes of a line protocol body (line.ts), written in place as each line
 * is made: names and values are copied in, timestamps written as digits.
 */
import { putUtf8 } from '../utf8-put';

/** 10^k for the fractional digits tried by decimal(). */
const TENS = [1, 10, 100, 1000, 10_000, 100_000, 1_000_000];

/**
 * The batch's bytes, written in place as each line is made: no string per line
 * or per batch (a rope of every piece, flattened and copied again into bytes).
 */
export class LineBuffer {
  buf: Buffer;
  off = 0;

  constructor(size: number) {
    this.buf = Buffer.allocUnsafe(size);
  }

  /** Room for n more bytes. */
  room(n: number): void {
    if (this.off + n <= this.buf.length) return;
    const bigger = Buffer.allocUnsafe(Math.max(this.off + n, 2 * this.buf.length));
    this.buf.copy(bigger, 0, 0, this.off);
    this.buf = bigger;
  }

  byte(b: number): void {
    this.room(1);
    this.buf[this.off++] = b;
  }

  text(s: string): void {
    // At most 3 UTF-8 bytes per UTF-16 unit.
    this.room(3 * s.length);
    this.off += putUtf8(s, this.buf, this.off);
  }

  /** A safe integer in decimal (a timestamp): no string made; in two parts below 2^31 so the digits come from small-integer arithmetic. */
  integer(v: number): void {
    this.room(17);
    if (v < 0) {
      this.buf[this.off++] = 0x2d;
      v = -v;
    }
    if (v < 1e8) return this.digits(v, 1);
    const hi = Math.floor(v / 1e8);
    this.digits(hi, 1);
    this.digits(v - hi * 1e8, 8);
  }

  /**
   * A finite number with up to 6 fractional digits (what sensors send: 21.3, -0.25),
   * written as String(v) writes it, without making that string; false for any other
   * (the caller writes String(v)). m = v·10^k for the first k at which m is whole and
   * m/10^k gives v back: that decimal reads back as v (division and parsing both round
   * correctly), and below 10^15 no other decimal with k digits does, so after its
   * trailing zeros go it is the shortest one, which String(v) is.
   */
  decimal(v: number): boolean {
    const a = v < 0 ? -v : v;
    // Below 10^-6 String(v) uses an exponent.
    if (!(a >= 1e-6)) return false;
    for (let k = 1; k < TENS.length; k++) {
      const m = a * TENS[k];
      if (m >= 1e15) return false;
      if (m !== Math.floor(m) || m / TENS[k] !== a) continue;
      const whole = Math.floor(m / TENS[k]);
      let frac = m - whole * TENS[k];
      if (!(frac > 0 && frac < TENS[k])) return false;
      while (frac % 10 === 0) {
        frac /= 10;
        k--;
      }
      this.room(18 + k);
      if (v < 0) this.buf[this.off++] = 0x2d;
      this.integer(whole);
      this.buf[this.off++] = 0x2e;
      this.digits(frac, k);
      return true;
    }
    return false;
  }

  /** 0 <= v < 2^31, at least `width` digits (zeros in front). */
  private digits(v: number, width: number): void {
    // As a 32-bit integer: `%` on a double is a call into fmod.
    v = v | 0;
    let n = 1;
    for (let x = v; x >= 10; x = (x / 10) | 0) n++;
    if (n < width) n = width;
    const buf = this.buf;
    const start = this.off;
    let i = start + n;
    this.off = i;
    do {
      buf[--i] = 0x30 + (v % 10);
      v = (v / 10) | 0;
    } while (v > 0);
    while (i > start) buf[--i] = 0x30;
  }
}
