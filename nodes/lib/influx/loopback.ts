/**
 * Whether a server URL names this machine. Line protocol gzips about 8:1, but
 * to a server on loopback that saves no time: it only costs CPU on both sides
 * (the bare line-protocol writer of the benchmark does not compress either).
 */

/** localhost, *.localhost, 127.0.0.0/8 or ::1. */
export function isLoopbackUrl(url: string): boolean {
  let host: string;
  try {
    host = new URL(url).hostname.toLowerCase();
  } catch {
    return false;
  }
  return host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || /^127(\.\d{1,3}){3}$/.test(host);
}

/** The size above which bodies to `url` are gzipped: the setting, or 0 (never) for a server on this machine. */
export function gzipThreshold(url: string, gzipAbove: number): number {
  return isLoopbackUrl(url) ? 0 : gzipAbove;
}
