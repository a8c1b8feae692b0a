/**
 * Reading an HTTP request body for an input: a size limit checked against
 * Content-Length before anything is read and again while reading, gzip and
 * deflate inflated with the same limit on what comes out, and a body some
 * earlier middleware already parsed taken as it is.
 */
import type { IncomingMessage } from 'node:http';
import { gunzip, inflate } from 'node:zlib';
import { DecodeError, PayloadTooLargeError, UnsupportedFormatError } from '../errors';

export class UnsupportedEncodingError extends UnsupportedFormatError {
  constructor(encoding: string) {
    super(`Content-Encoding ${encoding.slice(0, 40)} is not supported; send identity, gzip or deflate`, { contentEncoding: encoding });
  }
}

/** Raw bytes of a request, inflated. Rejects with PayloadTooLargeError, UnsupportedEncodingError or DecodeError. */
export function readRequestBody(req: IncomingMessage & { body?: unknown; _body?: boolean }, limit: number): Promise<Buffer> {
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
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        failed = true;
        req.removeListener('data', onData);
        req.resume();
        reject(new PayloadTooLargeError(size, limit));
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.on('error', (err) => {
      if (!failed) reject(err);
    });
    req.on('end', () => {
      if (failed) return;
      const raw = chunks.length === 1 ? chunks[0] : Buffer.concat(chunks, size);
      if (encoding === 'identity' || encoding === '') return resolve(raw);
      const done = (err: Error | null, out: Buffer) => {
        if (!err) return resolve(out);
        if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') return reject(new PayloadTooLargeError(limit + 1, limit));
        reject(new DecodeError(`the ${encoding} body cannot be inflated: ${err.message}`, { format: encoding, offset: 0 }));
      };
      if (encoding === 'deflate') inflate(raw, { maxOutputLength: limit }, done);
      else gunzip(raw, { maxOutputLength: limit }, done);
    });
  });
}
