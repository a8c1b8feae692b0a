/**
 * Reading an HTTP request body for an input: a size limit checked against
 * Content-Length before anything is read and again while reading, gzip and
 * deflate inflated with the same limit on what comes out, and a body some
 * earlier middleware already parsed taken as it is.
 */
import type { IncomingMessage } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { DecodeError, PayloadTooLargeError, UnsupportedFormatError } from '../errors';
import { BodyTimeoutError } from './errors';

export class UnsupportedEncodingError extends UnsupportedFormatError {
  constructor(encoding: string) {
    super(`Content-Encoding ${encoding.slice(0, 40)} is not supported; send identity, gzip or deflate`, { contentEncoding: encoding });
  }
}

/**
 * The body of a request whose every declared byte has arrived already (a small
 * request comes in one packet with its headers, and the HTTP parser has
 * buffered its body by the time the route has checked who sent it), taken at
 * once without listeners or a promise; undefined when it must be read with
 * readRequestBody (not all there yet, no Content-Length, encoded, parsed by a
 * middleware, or over the limit, which that one answers).
 */
export function bufferedBody(req: IncomingMessage & { _body?: boolean }, limit: number): Buffer | undefined {
  const declared = req.headers['content-length'];
  if (declared === undefined || req._body === true || req.readableFlowing === true || req.readableEnded) return undefined;
  const n = Number(declared);
  if (!(n <= limit) || req.readableLength !== n) return undefined;
  const encoding = req.headers['content-encoding'];
  if (encoding !== undefined && encoding !== '' && encoding.trim().toLowerCase() !== 'identity') return undefined;
  const b = req.read() as Buffer | null;
  // The end of the message may still be on its way: flowing, the request ends (and closes) as usual.
  req.resume();
  return b ?? Buffer.alloc(0);
}

/**
 * Raw bytes of a request, inflated. Rejects with PayloadTooLargeError, UnsupportedEncodingError or DecodeError,
 * and with BodyTimeoutError when the body has not all arrived `timeoutMs` after reading began (0: no limit):
 * a client that stalls mid-body would otherwise hold its socket until the server's own request timeout.
 */
export function readRequestBody(req: IncomingMessage & { body?: unknown; _body?: boolean }, limit: number, timeoutMs = 0): Promise<Buffer> {
  const encoding = String(req.headers['content-encoding'] ?? 'identity').trim().toLowerCase();
  if (encoding !== 'identity' && encoding !== 'gzip' && encoding !== 'x-gzip' && encoding !== 'deflate' && encoding !== '') {
    req.resume();
    return Promise.reject(new UnsupportedEncodingError(encoding));
  }
  if (req._body === true || req.readableEnded) {
    // Parsed (and inflated) by a body parser in front of this route.
    const b = req.body;
    const buf = Buffer.isBuffer(b) ? b : typeof b === 'string' ? Buffer.from(b, 'utf8') : b === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(b), 'utf8');
    return buf.length > limit ? Promise.reject(new PayloadTooLargeError(buf.length, limit)) : Promise.resolve(buf);
  }
  const declared = Number(req.headers['content-length']);
  if (declared > limit) {
    req.resume();
    return Promise.reject(new PayloadTooLargeError(declared, limit));
  }
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let failed = false;
    const timer = timeoutMs > 0 ? setTimeout(() => {
      if (failed) return;
      failed = true;
      req.removeListener('data', onData);
      reject(new BodyTimeoutError(timeoutMs, size));
    }, timeoutMs) : undefined;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        clearTimeout(timer);
        failed = true;
        req.removeListener('data', onData);
        req.resume();
        // The rest is not read: how large the body is in all is not known, only that it passed the limit.
        reject(new PayloadTooLargeError(undefined, limit, `the body is more than the limit of ${limit} bytes (cut off after ${size} bytes)`));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', (err) => {
      clearTimeout(timer);
      if (!failed) reject(err);
    });
    // A client that goes away mid-body: nothing is left to wait for.
    req.on('close', () => clearTimeout(timer));
    req.on('end', () => {
      clearTimeout(timer);
      if (failed) return;
      const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      if (encoding === 'identity' || encoding === '') return resolve(raw);
      const done = (err: Error | null, out: Buffer) => {
        if (!err) return resolve(out);
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
          // Inflation stops at the limit (a gzip bomb never gets further): the inflated size is not known.
          const message = `the ${encoding} body inflates to more than the limit of ${limit} bytes (${raw.length} bytes as sent)`;
          return reject(new PayloadTooLargeError(undefined, limit, message, { contentEncoding: encoding }));
        }
        reject(new DecodeError(`the ${encoding} body cannot be inflated: ${err.message}`, { format: encoding, offset: 0 }));
      };
      if (encoding === 'deflate') inflate(raw, { maxOutputLength: limit }, done);
      else gunzip(raw, { maxOutputLength: limit }, done);
    });
  });
}
