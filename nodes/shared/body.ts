/**
 * The request body of the POST routes. Node-RED parses bodies only for its
 * own http-in nodes, so the API reads its own, with a size limit; a body some
 * other middleware already parsed is taken as it is.
 */
import type { Request } from 'express';
import { PayloadTooLargeError } from '../lib/errors';

export function readBody(req: Request, limit: number): Promise<unknown> {
  // A parser that skipped the body (another content type) leaves the stream unread.
  if (req.readableEnded) return Promise.resolve((req as { body?: unknown }).body);
  const declared = Number(req.headers['content-length']);
  if (declared > limit) return Promise.reject(new PayloadTooLargeError(declared, limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        req.removeAllListeners('data');
        req.resume();
        reject(new PayloadTooLargeError(size, limit));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}
